// Local MongoDB wire-protocol store: mongo-java-server 1.47.0 with its H2 (MVStore file) backend.
//
// Run as a single source file, no build step (JDK 11+ source launcher):
//   java -Xmx512m -cp '<stack.home>/lib/store/*' stack/store/MongoStoreLauncher.java <host> <port> <h2-file-path>
//
// stdout gets exactly one readiness line, "mongo-java-server ready on <host>:<port>", once the
// socket is bound (with port 0 the line shows the port actually bound). Log lines of the server
// (slf4j-simple) go to stdout too. On SIGTERM/SIGINT a shutdown hook closes the clients and the
// listener, then closes the backend, which closes the MVStore so the file is left consistent.
// Exit codes: 2 bad arguments, 1 failed to open the file or to bind.

import java.io.File;
import java.net.InetSocketAddress;
import java.util.concurrent.CountDownLatch;

import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.backend.h2.H2Backend;

public class MongoStoreLauncher {

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: MongoStoreLauncher <host> <port> <h2-file-path>");
            System.exit(2);
        }
        String host = args[0];
        int port;
        try {
            port = Integer.parseInt(args[1]);
        } catch (NumberFormatException e) {
            System.err.println("port is not a number: " + args[1]);
            System.exit(2);
            return;
        }
        String path = new File(args[2]).getAbsolutePath();

        // slf4j-simple writes to stderr by default; send it to stdout (the manager redirects
        // stdout to the log file). Must be set before the first logger is created.
        setDefault("org.slf4j.simpleLogger.logFile", "System.out");
        setDefault("org.slf4j.simpleLogger.defaultLogLevel", "info");
        setDefault("org.slf4j.simpleLogger.showDateTime", "true");
        setDefault("org.slf4j.simpleLogger.dateTimeFormat", "yyyy-MM-dd'T'HH:mm:ss.SSSZ");

        File parent = new File(path).getParentFile();
        if (parent != null && !parent.isDirectory() && !parent.mkdirs()) {
            System.err.println("cannot create directory " + parent);
            System.exit(1);
        }

        final H2Backend backend;
        try {
            backend = new H2Backend(path);
        } catch (RuntimeException e) {
            // e.g. the file is locked by another running store
            System.err.println("cannot open H2 file " + path + ": " + e);
            System.exit(1);
            return;
        }
        final MongoServer server = new MongoServer(backend);
        final CountDownLatch stopped = new CountDownLatch(1);

        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                // closes client connections and the listener, then calls backend.close()
                server.shutdownNow();
            } catch (Throwable t) {
                System.err.println("error while shutting down the server: " + t);
            } finally {
                try {
                    if (!backend.getMvStore().isClosed()) {
                        backend.close();
                    }
                } catch (Throwable t) {
                    System.err.println("error while closing the H2 store: " + t);
                }
                System.out.println("mongo-java-server stopped");
                System.out.flush();
                stopped.countDown();
            }
        }, "store-shutdown"));

        try {
            server.bind(host, port);
        } catch (RuntimeException e) {
            System.err.println("cannot bind " + host + ":" + port + ": " + e);
            System.exit(1);
            return;
        }
        InetSocketAddress bound = server.getLocalAddress();
        int boundPort = bound != null ? bound.getPort() : port;
        System.out.println("mongo-java-server ready on " + host + ":" + boundPort);
        System.out.flush();

        stopped.await();
    }

    private static void setDefault(String key, String value) {
        if (System.getProperty(key) == null) {
            System.setProperty(key, value);
        }
    }
}
