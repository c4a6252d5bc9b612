import java.io.FileInputStream;
import java.io.InputStream;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;

import org.hl7.fhir.model.core.OperationOutcome;
import org.hl7.fhir.model.core.StringType;
import org.hl7.fhir.model.utilities.formats.FhirFormat;
import org.hl7.fhir.services.validation.constants.ReferenceValidationPolicy;
import org.hl7.fhir.validation.ValidationEngine;
import org.hl7.fhir.validation.instance.advisor.BasePolicyAdvisorForFullValidation;

/**
 * Batch runner of the HL7 FHIR Validator: one JVM, the R4 core package from the local
 * package cache (~/.fhir/packages), no terminology server, our FHIR package loaded as an IG.
 *
 *   java -cp CP Validate.java PACKAGE_TGZ FILE_LIST OUT_JSON
 *
 * FILE_LIST has one JSON resource path a line; OUT_JSON gets
 *   [{"file": ..., "issues": [{"severity", "code", "expression", "message", "messageId"}]}]
 */
public class Validate {
  public static void main(String[] args) throws Exception {
    if (args.length != 3) {
      System.err.println("usage: Validate PACKAGE_TGZ FILE_LIST OUT_JSON");
      System.exit(2);
    }
    long start = System.currentTimeMillis();
    ValidationEngine engine = new ValidationEngine.ValidationEngineBuilder()
        .withVersion("4.0.1")
        .withNoTerminologyServer()
        .withCanRunWithoutTerminologyServer(true)
        .fromSource("hl7.fhir.r4.core#4.0.1");
    engine.getIgLoader().loadIg(engine.getIgs(), engine.getBinaries(), args[0], true);
    engine.setShowMessageIds(true);
    // Each file is validated on its own: a reference to the EHR's data (Patient/x,
    // QuestionnaireResponse/y) cannot resolve and is not an error; a reference that does
    // resolve (contained '#id', an entry of the same Bundle) must have the right type.
    engine.setPolicyAdvisor(new BasePolicyAdvisorForFullValidation(ReferenceValidationPolicy.CHECK_TYPE_IF_EXISTS, new HashSet<>()));
    engine.prepare();
    long loaded = System.currentTimeMillis();
    List<String> files = new ArrayList<>();
    for (String line : Files.readAllLines(Path.of(args[1]), StandardCharsets.UTF_8)) {
      if (!line.isBlank()) files.add(line.trim());
    }
    JsonArray results = new JsonArray();
    for (String file : files) {
      JsonObject result = new JsonObject();
      result.addProperty("file", file);
      JsonArray issues = new JsonArray();
      try (InputStream in = new FileInputStream(file)) {
        OperationOutcome outcome = engine.validate(FhirFormat.JSON, in, new ArrayList<>());
        for (OperationOutcome.OperationOutcomeIssueComponent issue : outcome.getIssueList()) {
          JsonObject item = new JsonObject();
          item.addProperty("severity", issue.getSeverity() == null ? "null" : issue.getSeverity().toCode());
          item.addProperty("code", issue.getCode() == null ? "" : issue.getCode().toCode());
          List<String> where = new ArrayList<>();
          for (StringType e : issue.getExpressionList()) where.add(e.getValue());
          item.addProperty("expression", String.join(", ", where));
          String text = issue.getDetails() == null ? null : issue.getDetails().getText();
          item.addProperty("message", text != null ? text : issue.getDiagnostics());
          String id = issue.getDetails() == null || issue.getDetails().getCodingList().isEmpty() ? ""
              : issue.getDetails().getCodingFirstRep().getCode();
          item.addProperty("messageId", id == null ? "" : id);
          issues.add(item);
        }
      } catch (Exception exc) {
        JsonObject item = new JsonObject();
        item.addProperty("severity", "fatal");
        item.addProperty("code", "exception");
        item.addProperty("expression", "");
        item.addProperty("message", exc.toString());
        item.addProperty("messageId", "");
        issues.add(item);
      }
      result.add("issues", issues);
      results.add(result);
    }
    Gson gson = new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().create();
    try (Writer out = Files.newBufferedWriter(Path.of(args[2]), StandardCharsets.UTF_8)) {
      gson.toJson(results, out);
    }
    long done = System.currentTimeMillis();
    System.err.printf("validated %d files: set-up %.1f s, validation %.1f s%n",
        files.size(), (loaded - start) / 1000.0, (done - loaded) / 1000.0);
  }
}
