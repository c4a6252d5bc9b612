// A HAPI FHIR JPA server (R4, H2 in memory) on 127.0.0.1, for the interoperability tests.
//
//   java -cp <class path of interop/hapi/pom.xml> interop/hapi/HapiServer.java PORT
//
// Base URL http://127.0.0.1:PORT/fhir. It prints "HAPI FHIR READY" when it serves; it stops on
// SIGTERM (or when its standard input closes, so that a killed test run leaves no server behind).
// The Spring configuration is HAPI's own (JpaR4Config + HapiJpaConfig, as its JPA server
// starter uses them) with only what a deployment must supply: the data source, the entity
// manager factory, the transaction manager, the storage settings and the binary store.
// Settings are HAPI's defaults (referential integrity on write and delete, client-assigned ids
// for alphanumeric ids), except: no full-text indexing (Hibernate Search off), and the
// default page size of searches (HAPI: 20) may be set with -Dnekpijn.hapi.pageSize=N, so that
// the tests make HAPI page small searches (its `next` links are then followed by our service).

import ca.uhn.fhir.batch2.jobs.config.Batch2JobsConfig;
import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.config.ThreadPoolFactoryConfig;
import ca.uhn.fhir.jpa.api.IDaoRegistry;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.batch2.JpaBatch2Config;
import ca.uhn.fhir.jpa.binary.api.IBinaryStorageSvc;
import ca.uhn.fhir.jpa.binstore.MemoryBinaryStorageSvcImpl;
import ca.uhn.fhir.jpa.config.HapiJpaConfig;
import ca.uhn.fhir.jpa.config.r4.JpaR4Config;
import ca.uhn.fhir.jpa.config.util.HapiEntityManagerFactoryUtil;
import ca.uhn.fhir.jpa.config.util.ResourceCountCacheUtil;
import ca.uhn.fhir.jpa.provider.DaoRegistryResourceSupportedSvc;
import ca.uhn.fhir.jpa.search.IStaleSearchDeletingSvc;
import ca.uhn.fhir.jpa.search.StaleSearchDeletingSvcImpl;
import ca.uhn.fhir.jpa.util.ResourceCountCache;
import ca.uhn.fhir.rest.api.IResourceSupportedSvc;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.dialect.HapiFhirH2Dialect;
import ca.uhn.fhir.jpa.provider.JpaCapabilityStatementProvider;
import ca.uhn.fhir.jpa.provider.JpaSystemProvider;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.jpa.subscription.channel.config.SubscriptionChannelConfig;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.provider.ResourceProviderFactory;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import jakarta.persistence.EntityManagerFactory;
import java.net.InetSocketAddress;
import java.util.Properties;
import javax.sql.DataSource;
import org.apache.commons.dbcp2.BasicDataSource;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.context.annotation.AnnotationConfigApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.context.annotation.Primary;
import org.springframework.orm.jpa.JpaTransactionManager;
import org.springframework.orm.jpa.LocalContainerEntityManagerFactoryBean;

public class HapiServer {

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        long started = System.nanoTime();
        AnnotationConfigApplicationContext context = new AnnotationConfigApplicationContext();
        context.register(Config.class);
        context.refresh();

        RestfulServer fhir = restfulServer(context);
        Server jetty = new Server(new InetSocketAddress("127.0.0.1", port));
        ServletContextHandler handler = new ServletContextHandler();
        handler.setContextPath("/");
        handler.addServlet(new ServletHolder(fhir), "/fhir/*");
        jetty.setHandler(handler);
        jetty.start();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> stop(jetty, context)));
        System.out.printf("HAPI FHIR READY http://127.0.0.1:%d/fhir (%.1f s)%n", port,
                (System.nanoTime() - started) / 1e9);
        System.out.flush();
        // the parent (tools/hapi_server.py) holds our standard input: end of input = stop
        while (System.in.read() >= 0) {
            // ignore input
        }
        System.exit(0);
    }

    private static RestfulServer restfulServer(AnnotationConfigApplicationContext context) {
        @SuppressWarnings("unchecked")
        IFhirSystemDao<?, ?> systemDao = context.getBean(IFhirSystemDao.class);
        RestfulServer fhir = new RestfulServer(context.getBean(FhirContext.class));
        fhir.registerProviders(context.getBean(ResourceProviderFactory.class).createProviders());
        fhir.registerProvider(context.getBean(JpaSystemProvider.class));
        fhir.setServerConformanceProvider(new JpaCapabilityStatementProvider(fhir, systemDao,
                context.getBean(JpaStorageSettings.class), context.getBean(ISearchParamRegistry.class),
                context.getBean(IValidationSupport.class)));
        fhir.setPagingProvider(context.getBean(DatabaseBackedPagingProvider.class));
        return fhir;
    }

    private static void stop(Server jetty, AnnotationConfigApplicationContext context) {
        try {
            jetty.stop();
        } catch (Exception e) {
            // stopping anyway
        }
        context.close();
    }

    @Configuration(proxyBeanMethods = false)
    @Import({JpaR4Config.class, HapiJpaConfig.class, JpaBatch2Config.class, Batch2JobsConfig.class,
            SubscriptionChannelConfig.class, ThreadPoolFactoryConfig.class})
    public static class Config {

        @Bean
        public JpaStorageSettings storageSettings() {
            return new JpaStorageSettings(); // HAPI's defaults
        }

        @Bean
        public PartitionSettings partitionSettings() {
            return new PartitionSettings();
        }

        @Bean
        public DataSource dataSource() {
            BasicDataSource source = new BasicDataSource();
            source.setDriver(new org.h2.Driver());
            source.setUrl("jdbc:h2:mem:hapi;DB_CLOSE_DELAY=-1");
            source.setUsername("sa");
            source.setPassword("");
            source.setMaxTotal(10);
            return source;
        }

        @Primary
        @Bean
        public LocalContainerEntityManagerFactoryBean entityManagerFactory(ConfigurableListableBeanFactory beans,
                FhirContext fhirContext, JpaStorageSettings settings, DataSource dataSource) {
            LocalContainerEntityManagerFactoryBean factory =
                    HapiEntityManagerFactoryUtil.newEntityManagerFactory(beans, fhirContext, settings);
            factory.setPersistenceUnitName("HAPI_PU");
            factory.setDataSource(dataSource);
            Properties jpa = new Properties();
            jpa.put("hibernate.dialect", HapiFhirH2Dialect.class.getName());
            jpa.put("hibernate.hbm2ddl.auto", "update");
            jpa.put("hibernate.search.enabled", "false");
            jpa.put("hibernate.format_sql", "false");
            jpa.put("hibernate.show_sql", "false");
            factory.setJpaProperties(jpa);
            return factory;
        }

        @Primary
        @Bean
        public JpaTransactionManager transactionManager(EntityManagerFactory entityManagerFactory) {
            return new JpaTransactionManager(entityManagerFactory);
        }

        @Bean
        public IBinaryStorageSvc binaryStorage() {
            return new MemoryBinaryStorageSvcImpl();
        }

        @Bean
        public IStaleSearchDeletingSvc staleSearchDeletingSvc() {
            return new StaleSearchDeletingSvcImpl();
        }

        @Bean
        public IResourceSupportedSvc resourceSupportedSvc(IDaoRegistry daoRegistry) {
            return new DaoRegistryResourceSupportedSvc(daoRegistry);
        }

        @Bean(name = "myResourceCountsCache")
        public ResourceCountCache resourceCountsCache(IFhirSystemDao<?, ?> systemDao) {
            return ResourceCountCacheUtil.newResourceCountCache(systemDao);
        }

        @Bean
        public DatabaseBackedPagingProvider databaseBackedPagingProvider() {
            DatabaseBackedPagingProvider paging = new DatabaseBackedPagingProvider();
            String pageSize = System.getProperty("nekpijn.hapi.pageSize");
            if (pageSize != null) {
                paging.setDefaultPageSize(Integer.parseInt(pageSize));
            }
            return paging;
        }
    }
}
