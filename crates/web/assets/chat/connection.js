// The WebSocket to Portico (docs/websocket.md): it connects, says when it is down,
// reconnects with jittered exponential backoff, renews its authorisation in-band with
// `auth`, and re-sends every publish the server has not acknowledged, under the same
// idempotency key, so a retried send is stored once.

import { ApiError } from "./api.js";

const FIRST_RETRY_MS = 500;
const LONGEST_RETRY_MS = 15_000;
// A browser may not notice a dead network for minutes: ping when nothing was heard for
// this long, and give up on the socket when the pong does not come within the grace.
const QUIET_MS = 25_000;
const PONG_GRACE_MS = 10_000;
// Close codes after which reconnecting cannot help without a new login.
const POLICY_CLOSE = 1008;
const TOKEN_EXPIRED_CLOSE = 4001;

/** The states the connection reports, as a person should read them. */
export const State = Object.freeze({
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  offline: "Offline",
});

export class Connection {
  #session;
  #handlers;
  #socket = null;
  #stopped = true;
  #attempt = 0;
  #retryTimer = null;
  #renewTimer = null;
  #quietTimer = null;
  #tokenInDoubt = false;
  // Publishes sent but not acknowledged, by idempotency key, in the order they were made.
  #unacked = new Map();

  /**
   * @param session the Session whose tokens open and renew the socket
   * @param handlers `onFrame(frame)`, `onState(state)`, `onUnsent(list)`, `onEnded(error)`
   */
  constructor(session, handlers) {
    this.#session = session;
    this.#handlers = handlers;
    addEventListener("online", () => this.#retryNow());
  }

  get isOpen() {
    return this.#socket?.readyState === WebSocket.OPEN;
  }

  start() {
    this.#stopped = false;
    this.#attempt = 0;
    this.#handlers.onState(State.connecting);
    this.#connect();
  }

  /** Closes the socket for good (log out): no reconnecting, unsent publishes dropped. */
  stop() {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#renewTimer);
    clearTimeout(this.#quietTimer);
    this.#abandonSocket(1000);
    this.#unacked.clear();
    this.#handlers.onUnsent([]);
    this.#handlers.onState(State.offline);
  }

  /** Sends a frame if the socket is open; returns whether it was sent. */
  send(frame) {
    if (!this.isOpen) return false;
    this.#socket.send(JSON.stringify(frame));
    return true;
  }

  /**
   * Publishes `body` to `room` under a new idempotency key. It is kept until the server
   * acknowledges it and re-sent after every reconnect until then.
   */
  publish(room, body) {
    const frame = { type: "publish", room, body, id: crypto.randomUUID() };
    this.#unacked.set(frame.id, frame);
    this.#reportUnsent();
    this.send(frame);
  }

  async #connect() {
    if (this.#stopped) return;
    let token;
    try {
      if (this.#tokenInDoubt) await this.#session.revalidate();
      this.#tokenInDoubt = false;
      token = await this.#session.accessToken();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return this.#end(error);
      return this.#retryLater();
    }
    if (this.#stopped) return;
    const url = new URL("/ws", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("access_token", token);
    const socket = new WebSocket(url);
    this.#socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      this.#attempt = 0;
      this.#handlers.onState(State.connected);
      this.#scheduleRenewal();
      this.#heard();
      for (const frame of this.#unacked.values()) this.send(frame);
    };
    socket.onmessage = (event) => {
      this.#heard();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      this.#receive(frame);
    };
    socket.onclose = (event) => {
      if (socket !== this.#socket) return;
      // A handshake that failed may have been a 401 (the browser does not say): check
      // the token before the next attempt. So too after the server's own expiry close.
      if (!opened || event.code === TOKEN_EXPIRED_CLOSE) this.#tokenInDoubt = true;
      if (event.code === POLICY_CLOSE) {
        return this.#end(new ApiError(401, { detail: "The session has ended." }));
      }
      this.#dropped();
    };
  }

  #receive(frame) {
    switch (frame.type) {
      case "ack":
        this.#unacked.delete(frame.id);
        this.#reportUnsent();
        break;
      case "error":
        if (frame.ref && this.#unacked.has(frame.ref) && frame.code !== "rate_limited" &&
            frame.code !== "internal") {
          // Refused for good (too large, not a member…): re-sending cannot help.
          this.#unacked.delete(frame.ref);
          this.#reportUnsent();
        }
        if (frame.code === "invalid_token" || frame.code === "token_expired") {
          this.#tokenInDoubt = true;
          this.#abandonSocket(4000);
          this.#dropped();
          return;
        }
        break;
    }
    this.#handlers.onFrame(frame);
  }

  /** The socket is gone: say so and try again after a jittered, growing delay. */
  #dropped() {
    this.#socket = null;
    clearTimeout(this.#renewTimer);
    clearTimeout(this.#quietTimer);
    if (this.#stopped) return;
    this.#handlers.onState(State.reconnecting);
    this.#retryLater();
  }

  #retryLater() {
    if (this.#stopped) return;
    this.#handlers.onState(State.reconnecting);
    // "Equal jitter": half the exponential delay, plus up to as much again at random,
    // so a crowd of clients dropped together does not come back together.
    const ceiling = Math.min(LONGEST_RETRY_MS, FIRST_RETRY_MS * 2 ** this.#attempt);
    this.#attempt += 1;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => this.#connect(), ceiling / 2 + Math.random() * ceiling / 2);
  }

  /** The network is back (the browser says so): do not wait out the backoff. */
  #retryNow() {
    if (this.#stopped || this.#socket !== null) return;
    this.#attempt = 0;
    clearTimeout(this.#retryTimer);
    this.#connect();
  }

  /** Renews the socket's authorisation before the access token expires. */
  #scheduleRenewal() {
    clearTimeout(this.#renewTimer);
    this.#renewTimer = setTimeout(async () => {
      try {
        const token = await this.#session.refresh();
        this.send({ type: "auth", access_token: token });
        this.#scheduleRenewal();
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) return this.#end(error);
        // The network failed: the socket will drop too, and reconnecting refreshes.
        this.#renewTimer = setTimeout(() => this.#scheduleRenewal(), 5_000);
      }
    }, this.#session.renewalDelay());
  }

  /** Something arrived: the socket is alive. Ping after a quiet spell to be sure. */
  #heard() {
    clearTimeout(this.#quietTimer);
    this.#quietTimer = setTimeout(() => {
      this.send({ type: "ping" });
      this.#quietTimer = setTimeout(() => {
        this.#abandonSocket(4000);
        this.#dropped();
      }, PONG_GRACE_MS);
    }, QUIET_MS);
  }

  /** Lets go of the socket without waiting for its close handshake. */
  #abandonSocket(code) {
    const socket = this.#socket;
    this.#socket = null;
    if (socket === null) return;
    socket.onclose = null;
    socket.onmessage = null;
    socket.onopen = null;
    try {
      socket.close(code);
    } catch {
      // Closing a socket that never opened may throw; it is gone either way.
    }
  }

  /** The session is over (refused refresh token, ended session): stop and say why. */
  #end(error) {
    this.stop();
    this.#handlers.onEnded(error);
  }

  #reportUnsent() {
    this.#handlers.onUnsent([...this.#unacked.values()]);
  }
}
