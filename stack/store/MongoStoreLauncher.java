// Local MongoDB wire-protocol store: mongo-java-server 1.47.0 with its H2 (MVStore file) backend.
//
// Run as a single source file, no build step (JDK 11+ source launcher):
//   java -Xmx2g -cp '<stack.home>/lib/store/*' stack/store/MongoStoreLauncher.java <host> <port> <h2-file-path> [<cache-mb>]
//
// <cache-mb> is the MVStore page cache (H2's default is 16 MB). Documents are stored Java-serialized,
// so every page that falls out of the cache is deserialized again on its next read or update: with
// the default cache, reads by _id of an 80,000-document collection took twice as long (0.56 against
// 0.26 ms per document). Index keys are ordered by ComparableKeysH2Backend below.
//
// stdout gets exactly one readiness line, "mongo-java-server ready on <host>:<port>", once the
// socket is bound (with port 0 the line shows the port actually bound). Log lines of the server
// (slf4j-simple) go to stdout too. On SIGTERM/SIGINT a shutdown hook closes the clients and the
// listener, then closes the backend, which closes the MVStore so the file is left consistent.
// Exit codes: 2 bad arguments, 1 failed to open the file or to bind.

import java.io.File;
import java.net.InetSocketAddress;
import java.util.concurrent.CountDownLatch;

import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import java.util.stream.Stream;
import java.nio.ByteBuffer;

import org.h2.mvstore.MVMap;
import org.h2.mvstore.MVStore;
import org.h2.mvstore.WriteBuffer;
import org.h2.mvstore.type.ObjectDataType;

import de.bwaldvogel.mongo.MongoCollection;
import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.backend.ArrayFilters;
import de.bwaldvogel.mongo.backend.CollectionOptions;
import de.bwaldvogel.mongo.backend.CursorRegistry;
import de.bwaldvogel.mongo.backend.Index;
import de.bwaldvogel.mongo.backend.IndexKey;
import de.bwaldvogel.mongo.backend.KeyValue;
import de.bwaldvogel.mongo.backend.QueryResult;
import de.bwaldvogel.mongo.backend.ValueComparator;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.backend.h2.H2Collection;
import de.bwaldvogel.mongo.oplog.Oplog;
import de.bwaldvogel.mongo.backend.h2.H2Database;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.wire.bson.BsonDecoder;
import de.bwaldvogel.mongo.wire.bson.BsonEncoder;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.buffer.Unpooled;

public class MongoStoreLauncher {

    public static void main(String[] args) throws Exception {
        if (args.length != 3 && args.length != 4) {
            System.err.println("usage: MongoStoreLauncher <host> <port> <h2-file-path> [<cache-mb>]");
            System.exit(2);
        }
        String host = args[0];
        int port = intArg(args[1], "port");
        String path = new File(args[2]).getAbsolutePath();
        int cacheMb = args.length == 4 ? intArg(args[3], "cache size (MB)") : 16;

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
            backend = ComparableKeysH2Backend.open(openStore(path, cacheMb));
        } catch (RuntimeException e) {
            // e.g. the file is locked by another running store
            System.err.println("cannot open H2 file " + path + ": " + e);
            // Every collection in it is a projection, rebuilt from Kafka: a damaged file costs a replay, not data.
            System.err.println("if it is damaged: stop the store, move the file aside, start it again, and rebuild the projections (cdc replay)");
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

    /**
     * No background writer: a write is on disk (in the file, so a kill -9 of this process cannot
     * lose it) before its response is sent, by ComparableKeysH2Backend's commit. H2's default
     * commits about once a second in the background, so a round the projector saw acknowledged, and
     * committed the offsets of, could be lost. Without that thread nothing rewrites chunks behind
     * the writes' back either (background compaction), which is what left a file killed under load
     * unable to open ("Chunk ... not found"). Should a file still fail to open, it is opened in
     * H2's recovery mode, which falls back to the newest chunk that reads back whole.
     */
    static MVStore openStore(String path, int cacheMb) {
        try {
            return new MVStore.Builder().fileName(path).cacheSize(cacheMb).autoCommitDisabled().open();
        } catch (RuntimeException e) {
            if (String.valueOf(e.getMessage()).contains("locked")) throw e;
            System.err.println("H2 file " + path + " did not open (" + e + "); opening it in recovery mode");
            return new MVStore.Builder().fileName(path).cacheSize(cacheMb).autoCommitDisabled().recoveryMode().open();
        }
    }

    /** Exits with 2 (bad arguments) when the value is not a number. */
    private static int intArg(String value, String what) {
        try {
            return Integer.parseInt(value);
        } catch (NumberFormatException e) {
            System.err.println(what + " is not a number: " + value);
            System.exit(2);
            throw e;
        }
    }

    private static void setDefault(String key, String value) {
        if (System.getProperty(key) == null) {
            System.setProperty(key, value);
        }
    }
}

/**
 * H2's default key type orders keys it does not know (mongo-java-server's KeyValue, the key of
 * every unique index, _id included) by Java-serializing both sides of every comparison. A profile of
 * compare-and-set replacements showed most of the store's CPU there. This backend opens each index
 * map, and each collection's documents map (keyed by _id values), first with a key type that
 * orders keys by BSON order and otherwise reads and writes exactly as before; H2Database's own
 * openMap then gets the already-open map.
 *
 * The order differs from the serialized-bytes order, so a file written without it must not be
 * opened with it: the stack names its data file for this layout (see store.ts).
 */
class ComparableKeysH2Backend extends H2Backend {
    static final String INDEX_MAP_INFIX = "._index_";
    /** H2Database names each collection's documents map "databases.<db>.<collection>". */
    static final String DATA_MAP_PREFIX = "databases.";

    /** H2Backend's constructor opens the existing databases, so their index maps are opened first. */
    static ComparableKeysH2Backend open(MVStore mvStore) {
        ComparableKeysH2Database.store = mvStore;
        for (String mapName : mvStore.getMapNames()) {
            if (mapName.contains(INDEX_MAP_INFIX)) {
                KeyValueType.openOrdered(mvStore, mapName);
            } else if (mapName.startsWith(DATA_MAP_PREFIX)) {
                KeyValueType.openDocuments(mvStore, mapName);
            }
        }
        return new ComparableKeysH2Backend(mvStore);
    }

    private ComparableKeysH2Backend(MVStore mvStore) {
        super(mvStore);
    }

    @Override
    protected MongoDatabase openOrCreateDatabase(String databaseName) {
        return new ComparableKeysH2Database(databaseName, getMvStore(), getCursorRegistry());
    }

    /** Commands that change the file; the wire protocol names them case-sensitively, as here. */
    private static final Set<String> WRITES = Set.of("insert", "update", "delete", "findAndModify", "findandmodify", "create", "createIndexes", "drop",
            "dropDatabase", "dropIndexes", "deleteIndexes", "renameCollection", "collMod");
    /** Writes applied in memory so far, and of them, those a commit has put in the file. */
    private final AtomicLong writesApplied = new AtomicLong();
    private long writesCommitted = 0;
    private final Object commitLock = new Object();

    /**
     * A write is acknowledged only once committed to the file. Group commit: the ticket is taken
     * after the write is applied in memory, and whoever commits takes every write applied by then,
     * so concurrent requests share one commit instead of queuing one each.
     */
    @Override
    public Document handleCommand(Channel channel, String databaseName, String command, Document query) {
        try {
            return super.handleCommand(channel, databaseName, command, query);
        } finally {
            // An error answer too: part of an unordered bulk may be applied, and reported as written.
            if (WRITES.contains(command)) commitThrough(writesApplied.incrementAndGet());
        }
    }

    private void commitThrough(long ticket) {
        synchronized (commitLock) {
            if (writesCommitted >= ticket) return;
            long upTo = writesApplied.get();
            getMvStore().commit();
            writesCommitted = upTo;
        }
    }
}

class ComparableKeysH2Database extends H2Database {
    /**
     * The process's one store. H2Database's constructor reopens existing collections before this
     * class's fields are set, so openOrCreateCollection cannot use a field.
     */
    static volatile MVStore store;

    private final MVStore mvStore;

    ComparableKeysH2Database(String databaseName, MVStore mvStore, CursorRegistry cursorRegistry) {
        super(databaseName, mvStore, cursorRegistry);
        this.mvStore = mvStore;
    }

    @Override
    protected Index<Object> openOrCreateUniqueIndex(String collectionName, String indexName, List<IndexKey> keys, boolean sparse) {
        // Null while H2Database's constructor reopens existing indexes (already opened by open()).
        if (mvStore != null) {
            // Same name as H2Database.mapNameForIndex (private there).
            String mapName = getFullCollectionNamespace(collectionName) + ComparableKeysH2Backend.INDEX_MAP_INFIX + indexName;
            KeyValueType.openOrdered(mvStore, mapName);
        }
        return super.openOrCreateUniqueIndex(collectionName, indexName, keys, sparse);
    }

    /** As H2Database.openOrCreateCollection, but the documents map is keyed in BSON order too. */
    @Override
    protected MongoCollection<Object> openOrCreateCollection(String collectionName, CollectionOptions options) {
        String namespace = getFullCollectionNamespace(collectionName);
        MVMap<Object, Document> dataMap = KeyValueType.openDocuments(store, ComparableKeysH2Backend.DATA_MAP_PREFIX + namespace);
        MVMap<String, Object> metaMap = store.openMap("meta." + namespace);
        return new IdIndexedH2Collection(this, collectionName, options, dataMap, metaMap, cursorRegistry);
    }
}

/**
 * mongo-java-server uses an index only when a filter names exactly the index's fields, so
 * `{_id: 5, _rev: 3}` (the pipeline's compare-and-set) scanned the whole collection unless a
 * second unique index `{_id, _rev}` existed, and every write then paid for keeping that index.
 * MongoDB serves any filter with an equality on `_id` from the `_id` index and matches the rest on
 * the one document found; this collection does the same.
 */
class IdIndexedH2Collection extends H2Collection {
    private static final String ID = "_id";
    /**
     * Set while an update runs (all of a collection's operations hold its monitor). mongo-java-server
     * updates the document it read from the map in place and puts the same object back. H2 serializes
     * a page's values on its background writer thread, so an update mutating a document that sits in
     * a page being written threw ConcurrentModificationException there, and H2 then closed the store
     * ("This store is closed") until a restart; readers could likewise see half an update. Updates now
     * work on a copy, and the object in the map is never changed after it is put.
     */
    private boolean copyOnRead;

    private final MVMap<Object, Document> documents;

    IdIndexedH2Collection(MongoDatabase database, String collectionName, CollectionOptions options,
                          MVMap<Object, Document> dataMap, MVMap<String, Object> metaMap, CursorRegistry cursorRegistry) {
        super(database, collectionName, options, dataMap, metaMap, cursorRegistry);
        this.documents = dataMap;
    }

    /**
     * mongo-java-server keeps a collection's data size current by BSON-encoding every document it
     * inserts, and both the old and the new document of every update, then writing the sum to the
     * collection's meta map: on our compare-and-set replacements, two encodings and one more map write
     * per document, for a figure only collStats and dbStats report. They now encode the documents
     * when asked (getDataSize).
     */
    @Override
    protected boolean tracksDataSize() {
        return false;
    }

    @Override
    protected synchronized int getDataSize() {
        if (documents == null) {
            // H2Collection's constructor logs the stored figure, before this class has set its field.
            return super.getDataSize();
        }
        long size = 0;
        ByteBuf buffer = Unpooled.buffer();
        try {
            for (Document document : documents.values()) {
                buffer.clear();
                BsonEncoder.encodeDocument(document, buffer);
                size += buffer.writerIndex();
            }
        } finally {
            buffer.release();
        }
        return (int) Math.min(Integer.MAX_VALUE, size);
    }

    @Override
    public synchronized Document updateDocuments(Document selector, Document updateQuery, ArrayFilters arrayFilters,
                                                 boolean isMulti, boolean isUpsert, Oplog oplog) {
        return copyingReads(() -> super.updateDocuments(selector, updateQuery, arrayFilters, isMulti, isUpsert, oplog));
    }

    @Override
    public synchronized Document findAndModify(Document query) {
        return copyingReads(() -> super.findAndModify(query));
    }

    /** Runs an update with copyOnRead set; the caller holds the collection's monitor. */
    private Document copyingReads(Supplier<Document> update) {
        copyOnRead = true;
        try {
            return update.get();
        } finally {
            copyOnRead = false;
        }
    }

    /** Every query, served by an index or a scan, ends here: under an update, copies of the matches. */
    @Override
    protected QueryResult matchDocumentsFromStream(Document query, Stream<Document> documentStream, int numberToSkip, int limit,
                                                   int batchSize, Comparator<Document> documentComparator, Document fieldSelector) {
        Stream<Document> matches = copyOnRead
            ? documentStream.filter(document -> documentMatchesQuery(document, query)).map(Document::cloneDeeply)
            : documentStream;
        return super.matchDocumentsFromStream(query, matches, numberToSkip, limit, batchSize, documentComparator, fieldSelector);
    }

    @Override
    protected QueryResult queryDocuments(Document query, Document orderBy, int numberToSkip, int limit, int batchSize, Document fieldSelector) {
        if (query.size() > 1 && query.containsKey(ID)) {
            Document byId = new Document(ID, query.get(ID));
            for (Index<Object> index : getIndexes()) {
                List<IndexKey> keys = index.getKeys();
                // canHandle accepts a plain value or $in, and refuses other operators ($gt, ...).
                if (keys.size() == 1 && keys.get(0).getKey().equals(ID) && index.canHandle(byId)) {
                    return matchDocuments(query, index.getPositions(byId), orderBy, numberToSkip, limit, batchSize, fieldSelector);
                }
            }
        }
        return super.queryDocuments(query, orderBy, numberToSkip, limit, batchSize, fieldSelector);
    }
}

class KeyValueType extends ObjectDataType {
    private static final ValueComparator BSON_ORDER = ValueComparator.ascWithoutListHandling();

    /** Opens a map keyed in BSON order; H2Database's own openMap later gets this already-open map. */
    static <V> MVMap<Object, V> openOrdered(MVStore mvStore, String mapName) {
        return mvStore.openMap(mapName, new MVMap.Builder<Object, V>().keyType(new KeyValueType()));
    }

    /** A collection's documents map: keyed in BSON order, its documents stored as BSON. */
    static MVMap<Object, Document> openDocuments(MVStore mvStore, String mapName) {
        return mvStore.openMap(mapName, new MVMap.Builder<Object, Document>().keyType(new KeyValueType()).valueType(new BsonDocumentType()));
    }

    @Override
    public int compare(Object a, Object b) {
        if (a instanceof KeyValue && b instanceof KeyValue) {
            KeyValue left = (KeyValue) a;
            KeyValue right = (KeyValue) b;
            int n = Math.min(left.size(), right.size());
            for (int i = 0; i < n; i++) {
                int c = compareValues(left.get(i), right.get(i));
                if (c != 0) {
                    return c;
                }
            }
            return Integer.compare(left.size(), right.size());
        }
        // A collection without an _id field is keyed by random UUIDs, which H2 orders natively.
        if (a instanceof KeyValue || b instanceof KeyValue || a instanceof java.util.UUID || b instanceof java.util.UUID) {
            return super.compare(a, b);
        }
        // A documents map is keyed by _id values. H2 orders a type it does not know, such as a
        // Document _id ({id: 5}), by its Java-serialized bytes, and those include the hash table's
        // capacity: two equal Documents can serialize differently (one that grew and shrank does).
        // Under load a lookup then missed a document that exists, an upsert inserted and collided
        // (a false E11000), and the sink connector stopped on it.
        return compareValues(a, b);
    }

    /** Beyond it, a long is not exact as a double, and ValueComparator's order for it is its own. */
    private static final long EXACT_IN_DOUBLE = 1L << 53;

    /**
     * B-tree lookups compare keys about twenty times each, and ValueComparator normalizes both
     * sides of every numeric comparison (int, long or double, NaN and infinity checks): in a
     * profile of a compare-and-set drain, half of the store's CPU. Index keys hold numbers as
     * doubles, documents maps as the client sent them (the pipeline's _ids are ints). Here such
     * pairs compare as primitives, but only where that is exactly ValueComparator's order: integral
     * values within 2^53, and doubles within int range (so that neither side would normalize to a
     * long) that are not NaN; -0.0 equals 0.0 in both.
     */
    static int compareValues(Object a, Object b) {
        if ((a instanceof Integer || a instanceof Long) && (b instanceof Integer || b instanceof Long)) {
            long x = ((Number) a).longValue();
            long y = ((Number) b).longValue();
            if (Math.abs(x) <= EXACT_IN_DOUBLE && Math.abs(y) <= EXACT_IN_DOUBLE) {
                return Long.compare(x, y);
            }
        } else if (isIntRangeNumber(a) && isIntRangeNumber(b)) {
            double x = ((Number) a).doubleValue();
            double y = ((Number) b).doubleValue();
            return x < y ? -1 : (x > y ? 1 : 0);
        }
        return BSON_ORDER.compare(a, b);
    }

    private static boolean isIntRangeNumber(Object value) {
        if (value instanceof Integer) {
            return true;
        }
        if (value instanceof Double) {
            double d = (Double) value;
            return !Double.isNaN(d) && d >= Integer.MIN_VALUE && d <= Integer.MAX_VALUE;
        }
        return false;
    }
}

/**
 * H2 stores a value type it does not know, such as a Document, with Java serialization: in a
 * profile of compare-and-set writes about 30% of the store's CPU went to ObjectOutputStream, and
 * each nested document (a pipeline document's `_state` has several) costs a class descriptor and
 * a hash table's worth of objects. This type stores documents as BSON, what the wire protocol
 * sends anyway, and leaves any other value to ObjectDataType. A file written with Java-serialized
 * documents is not read by it: the stack names its data file for this layout (see store.ts).
 */
class BsonDocumentType extends ObjectDataType {
    /** Above every tag ObjectDataType writes (0..119), so a value's first byte tells the two apart. */
    private static final byte BSON = (byte) 0xF0;
    private static final ThreadLocal<ByteBuf> SCRATCH = ThreadLocal.withInitial(() -> Unpooled.buffer(4096));

    /**
     * H2 sizes its page cache by these estimates, so they must not run low, or the cache outgrows
     * the heap: a decoded document's objects, roughly as a 64-bit JVM with compressed references
     * lays them out (a map entry with its key string, a boxed value). For 50,000 decoded
     * `order_rows` documents of 529 BSON bytes each, this gave 3,928 bytes, and the heap grew
     * by 3,690 bytes per document.
     */
    @Override
    public int getMemory(Object obj) {
        return obj instanceof Document ? (int) Math.min(Integer.MAX_VALUE, heapBytes(obj)) : super.getMemory(obj);
    }

    private static long heapBytes(Object value) {
        if (value instanceof java.util.Map) {
            long bytes = 64;
            for (java.util.Map.Entry<?, ?> entry : ((java.util.Map<?, ?>) value).entrySet()) {
                bytes += 40 + 48 + String.valueOf(entry.getKey()).length() + heapBytes(entry.getValue());
            }
            return bytes;
        }
        if (value instanceof java.util.Collection) {
            long bytes = 40;
            for (Object item : (java.util.Collection<?>) value) {
                bytes += 8 + heapBytes(item);
            }
            return bytes;
        }
        if (value instanceof String) {
            return 48 + ((String) value).length();
        }
        return value == null ? 0 : 24;
    }

    @Override
    public void write(WriteBuffer buff, Object obj) {
        if (obj instanceof Document) {
            ByteBuf out = SCRATCH.get();
            out.clear();
            try {
                BsonEncoder.encodeDocument((Document) obj, out);
            } catch (IllegalArgumentException notBson) {
                super.write(buff, obj);
                return;
            }
            int length = out.readableBytes();
            buff.put(BSON).put(out.array(), out.arrayOffset() + out.readerIndex(), length);
            return;
        }
        super.write(buff, obj);
    }

    @Override
    public Object read(ByteBuffer buff) {
        int at = buff.position();
        if (buff.get(at) != BSON) {
            return super.read(buff);
        }
        ByteBuf in = Unpooled.wrappedBuffer(buff.duplicate().position(at + 1));
        Document document = BsonDecoder.decodeBson(in);
        buff.position(at + 1 + in.readerIndex());
        return document;
    }
}
