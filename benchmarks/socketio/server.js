// A Socket.IO 4.8 server doing only the broadcast (no storage, no accounts), the
// comparison point of issue 19's rooms targets. It speaks Portico's room frames inside
// one Socket.IO event, "frame", so that examples/rooms.rs drives it with
// `--protocol socketio` exactly as it drives Portico: `join` → `joined`, `publish` →
// `ack` to the sender (a few bytes per publish, so the driver knows the last seq) and
// `message` to every socket in the room, `presence` → the room's sockets.
//
// usage: PORT=18092 node server.js   (benchmarks/rooms.sh with SERVER=socketio)
"use strict";
const { Server } = require("socket.io");

const port = Number(process.env.PORT || 18092);
const io = new Server(port, {
  transports: ["websocket"],
  serveClient: false,
  // Engine.IO's heartbeat is left to Portico's interval (15 s) rather than its default
  // 25 s; the driver answers pings.
  pingInterval: 15000,
  pingTimeout: 30000,
});
const lastSeq = new Map();

io.on("connection", (socket) => {
  socket.on("frame", (frame) => {
    if (!frame || typeof frame.room !== "string") return;
    const room = frame.room;
    switch (frame.type) {
      case "join":
        socket.join(room);
        socket.emit("frame", { type: "joined", room, last_seq: lastSeq.get(room) || 0, recovered: true });
        break;
      case "publish": {
        const seq = (lastSeq.get(room) || 0) + 1;
        lastSeq.set(room, seq);
        const id = frame.id || String(seq);
        socket.emit("frame", { type: "ack", room, id, seq });
        io.to(room).emit("frame", {
          type: "message",
          room,
          seq,
          id,
          sender: { id: socket.id, first_name: null, last_name: null },
          body: frame.body,
          created_at: new Date().toISOString(),
        });
        break;
      }
      case "presence":
        io.in(room).fetchSockets().then((sockets) => {
          socket.emit("frame", { type: "presence", room, users: sockets.map((s) => ({ id: s.id })) });
        });
        break;
      default:
        break;
    }
  });
});
console.log(`socket.io ${require("socket.io/package.json").version} listening on ${port}`);
