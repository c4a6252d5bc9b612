package org.nekpijncds.cql;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.cqframework.cql.cql2elm.CqlCompilerException;
import org.cqframework.cql.cql2elm.CqlCompilerOptions;
import org.cqframework.cql.cql2elm.CqlTranslator;
import org.cqframework.cql.cql2elm.DefaultLibrarySourceProvider;
import org.cqframework.cql.cql2elm.LibraryBuilder;
import org.cqframework.cql.cql2elm.LibraryManager;
import org.cqframework.cql.cql2elm.ModelManager;
import org.cqframework.cql.cql2elm.quick.FhirLibrarySourceProvider;

/**
 * Translates every .cql file of a directory to ELM JSON (same base name, .json) in an output
 * directory, and writes FHIRHelpers-4.0.1.json (from the translator's own quick jar) beside it:
 * a CQL engine needs the ELM of every included library. Exit 1 on any translation error.
 */
public final class Translate {
    public static void main(String[] args) throws IOException {
        if (args.length != 2) {
            System.err.println("usage: Translate <cql dir> <elm out dir>");
            System.exit(2);
        }
        Path in = Path.of(args[0]).toAbsolutePath();
        Path out = Path.of(args[1]).toAbsolutePath();
        Files.createDirectories(out);
        Path helpers = Files.createTempDirectory("fhirhelpers");
        try (InputStream src = FhirLibrarySourceProvider.class.getResourceAsStream("/org/hl7/fhir/FHIRHelpers-4.0.1.cql")) {
            Files.copy(src, helpers.resolve("FHIRHelpers-4.0.1.cql"));
        }
        boolean failed = translate(helpers.resolve("FHIRHelpers-4.0.1.cql"), in, out.resolve("FHIRHelpers-4.0.1.json"));
        try (var files = Files.list(in)) {
            for (Path cql : files.filter(p -> p.toString().endsWith(".cql")).sorted().toList()) {
                String name = cql.getFileName().toString().replaceAll("\\.cql$", ".json");
                failed |= translate(cql, in, out.resolve(name));
            }
        }
        System.exit(failed ? 1 : 0);
    }

    private static boolean translate(Path cql, Path libraryDir, Path target) throws IOException {
        ModelManager models = new ModelManager();
        // locators (ELM -> CQL line), no list demotion/promotion (as the translator's defaults),
        // no annotations (the CQL text is committed beside the ELM), overload signatures so
        // that an engine picks the right FHIRHelpers.ToInterval
        CqlCompilerOptions options = new CqlCompilerOptions(
                CqlCompilerOptions.Options.EnableLocators,
                CqlCompilerOptions.Options.DisableListDemotion,
                CqlCompilerOptions.Options.DisableListPromotion);
        options.setSignatureLevel(LibraryBuilder.SignatureLevel.Overloads);
        LibraryManager libraries = new LibraryManager(models, options);
        libraries.getLibrarySourceLoader().registerProvider(new DefaultLibrarySourceProvider(libraryDir));
        libraries.getLibrarySourceLoader().registerProvider(new FhirLibrarySourceProvider());
        CqlTranslator translator = CqlTranslator.fromFile(cql.toFile(), libraries);
        List<CqlCompilerException> errors = translator.getErrors();
        for (CqlCompilerException e : translator.getExceptions()) {
            var loc = e.getLocator();
            System.err.printf("%s %s:%s %s%n", e.getSeverity(), cql.getFileName(),
                    loc == null ? "?" : loc.getStartLine() + ":" + loc.getStartChar(), e.getMessage());
        }
        if (!errors.isEmpty()) {
            return true;
        }
        Files.writeString(target, translator.toJson() + "\n", StandardCharsets.UTF_8);
        System.err.println("wrote " + target);
        return false;
    }
}
