package admincore.testing;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Stream;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.io.ByteUnit;

/**
 * Embedded Neo4j Community with a Bolt connector on loopback and authentication off.
 *
 * <p>Usage: {@code Neo4jTestServer [homeDir] [boltPort] [pageCacheMiB]}. The home directory is
 * wiped on start, so every run begins with an empty graph. Prints {@code READY bolt://host:port}
 * once the default database is available and blocks until the process is terminated.
 *
 * <p>Any other Neo4j setting can be given as a system property named {@code neo4j.conf.} plus
 * the setting's name, e.g. {@code -Dneo4j.conf.db.tx_state.memory_allocation=OFF_HEAP}.
 */
public final class Neo4jTestServer {

    private static final String HOST = "127.0.0.1";
    private static final String SETTING_PREFIX = "neo4j.conf.";

    public static void main(String[] args) throws Exception {
        Path home = Path.of(args.length > 0 ? args[0] : "var/services/neo4j").toAbsolutePath();
        int port = args.length > 1 ? Integer.parseInt(args[1]) : 57687;
        long pageCacheMiB = args.length > 2 ? Long.parseLong(args[2]) : 1024;

        wipe(home);
        Files.createDirectories(home);

        Path settings = home.resolve("neo4j.conf");
        Files.writeString(settings, settingsFromSystemProperties());

        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(home)
                .loadPropertiesFromFile(settings)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress(HOST, port))
                .setConfig(BoltConnector.advertised_address, new SocketAddress(HOST, port))
                .setConfig(GraphDatabaseSettings.auth_enabled, false)
                .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.mebiBytes(pageCacheMiB))
                // A throwaway test store: keep no transaction logs beyond what recovery needs.
                .setConfig(GraphDatabaseSettings.keep_logical_logs, "false")
                .build();

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("Stopping Neo4j");
            dbms.shutdown();
            stopped.countDown();
        }, "neo4j-shutdown"));

        GraphDatabaseService db = dbms.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME);
        if (!db.isAvailable(60_000)) {
            System.err.println("Neo4j database did not become available");
            System.exit(1);
        }
        System.out.println("READY bolt://" + HOST + ":" + port);
        System.out.flush();
        stopped.await();
    }

    /** The {@code neo4j.conf.*} system properties as the lines of a neo4j.conf file. */
    private static String settingsFromSystemProperties() {
        StringBuilder lines = new StringBuilder();
        for (String name : System.getProperties().stringPropertyNames()) {
            if (name.startsWith(SETTING_PREFIX)) {
                lines.append(name.substring(SETTING_PREFIX.length()))
                        .append('=')
                        .append(System.getProperty(name))
                        .append('\n');
            }
        }
        return lines.toString();
    }

    private static void wipe(Path dir) throws Exception {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) paths.sorted(Comparator.reverseOrder())::iterator) {
                Files.delete(p);
            }
        }
    }
}
