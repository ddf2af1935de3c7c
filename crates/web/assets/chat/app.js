// The chat page: wires the Session (HTTP, tokens), the Connection (the WebSocket) and a
// Timeline per room to the document. Every text from the server or the person is put in
// with `textContent`, never parsed as HTML, so a message body is shown as typed.

import { ApiError, Session } from "./api.js";
import { Connection, State } from "./connection.js";
import { Timeline } from "./timeline.js";

const PAGE_SIZE = 50;
// Load older history when the log is scrolled this close to its top (px).
const OLDER_THRESHOLD_PX = 48;
// Acks wait this long so a burst of messages costs one frame (frames are budgeted).
const ACK_DELAY_MS = 200;
// How often the open room's presence is asked again (see askPresence).
const PRESENCE_REFRESH_MS = 30_000;

const $ = (id) => document.getElementById(id);
const view = {
  connection: $("connection"),
  whoami: $("whoami"),
  logout: $("logout"),
  problem: $("problem"),
  welcome: $("welcome"),
  accountForm: $("account-form"),
  chat: $("chat"),
  joinForm: $("join-form"),
  room: $("room"),
  roomList: $("room-list"),
  roomTitle: $("room-title"),
  leave: $("leave"),
  messages: $("messages"),
  historyState: $("history-state"),
  messageList: $("message-list"),
  unsent: $("unsent"),
  compose: $("compose"),
  message: $("message"),
  send: document.querySelector("#compose button"),
  present: $("present"),
};

const session = new Session();
const rooms = new Map();
let me = null;
let current = null;
let joining = null;
let loadingOlder = false;
const ackTimers = new Map();
let unsentFrames = [];
let presenceTimer = null;

const connection = new Connection(session, {
  onFrame: receive,
  onState: (state) => {
    view.connection.textContent = state;
    view.connection.dataset.state = Object.keys(State).find((key) => State[key] === state);
    if (state === State.reconnecting) {
      // Who is present is unknown while away; it is asked again on reconnect.
      for (const timeline of rooms.values()) timeline.present.clear();
      renderPresent();
    }
  },
  onUnsent: (frames) => {
    unsentFrames = frames;
    renderUnsent();
  },
  onEnded: (error) => {
    showProblem(`${error.message} Please log in again.`);
    leaveChat();
  },
});

// ---- Accounts ----------------------------------------------------------------------

view.accountForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = view.accountForm.elements;
  const email = form.email.value.trim();
  const password = form.password.value;
  showProblem("");
  try {
    if (event.submitter?.value === "register") {
      await session.register({
        email,
        password,
        firstName: form.first_name.value.trim(),
        lastName: form.last_name.value.trim(),
      });
    }
    await session.logIn(email, password);
    // Nothing typed stays in the form for the next person at this screen.
    view.accountForm.reset();
    await enterChat();
  } catch (error) {
    showProblem(describe(error));
  }
});

view.logout.addEventListener("click", async () => {
  connection.stop();
  leaveChat();
  try {
    await session.logOut();
  } catch {
    // The tokens are forgotten here already; the server's session expires on its own.
  }
});

async function enterChat() {
  me = await session.authorized("GET", "/users/me");
  view.whoami.textContent = `${me.first_name} ${me.last_name}`.trim() || me.email;
  view.welcome.hidden = true;
  view.chat.hidden = false;
  view.logout.hidden = false;
  const { rooms: listed } = await session.authorized("GET", "/rooms");
  for (const entry of listed) {
    const timeline = timelineOf(entry.room);
    timeline.reached(entry.last_seq);
    timeline.ackedSeq = entry.last_seq - entry.unread;
  }
  renderRooms();
  connection.start();
  view.room.focus();
}

function leaveChat() {
  rooms.clear();
  me = null;
  current = null;
  view.chat.hidden = true;
  view.logout.hidden = true;
  view.welcome.hidden = false;
  view.whoami.textContent = "";
  view.messageList.replaceChildren();
  renderRooms();
  renderPresent();
  selectRoom(null);
}

// ---- Rooms -------------------------------------------------------------------------

view.joinForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const name = view.room.value.trim();
  if (!/^[a-z0-9_-]{1,64}$/.test(name)) {
    showProblem("A room name is 1 to 64 of a–z, 0–9, _ and -.");
    return;
  }
  showProblem("");
  if (rooms.has(name)) {
    selectRoom(name);
  } else if (connection.send({ type: "join", room: name })) {
    joining = name;
  } else {
    showProblem("Not connected: try again when the connection is back.");
    return;
  }
  view.room.value = "";
});

view.leave.addEventListener("click", () => {
  if (current !== null && !connection.send({ type: "leave", room: current })) {
    showProblem("Not connected: try again when the connection is back.");
  }
});

function timelineOf(name) {
  let timeline = rooms.get(name);
  if (timeline === undefined) {
    timeline = new Timeline(name);
    rooms.set(name, timeline);
  }
  return timeline;
}

function renderRooms() {
  const items = [...rooms.values()]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((timeline) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "room-button";
      const name = document.createElement("span");
      name.textContent = timeline.name;
      button.append(name);
      if (timeline.unread > 0) {
        const badge = document.createElement("span");
        badge.className = "unread";
        badge.textContent = `${timeline.unread} unread`;
        button.append(" ", badge);
      }
      if (timeline.name === current) button.setAttribute("aria-current", "true");
      button.addEventListener("click", () => selectRoom(timeline.name));
      const item = document.createElement("li");
      item.append(button);
      return item;
    });
  view.roomList.replaceChildren(...items);
}

async function selectRoom(name) {
  current = name;
  const timeline = name === null ? null : rooms.get(name);
  view.roomTitle.textContent = name === null ? "Join or pick a room" : `# ${name}`;
  view.leave.hidden = name === null;
  view.message.disabled = name === null;
  view.send.disabled = name === null;
  view.historyState.textContent = "";
  view.messageList.replaceChildren(...(timeline?.messages.map(messageItem) ?? []));
  renderRooms();
  renderPresent();
  renderUnsent();
  if (timeline === null || timeline === undefined) return;
  askPresence();
  if (!timeline.historyLoaded) await loadHistory(timeline, null);
  scrollToNewest();
  acknowledge(timeline);
}

// ---- History -----------------------------------------------------------------------

/** Reads the page of history below `before` (the newest page when null). */
async function loadHistory(timeline, before) {
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (before !== null) query.set("before", String(before));
  view.historyState.textContent = "Loading history…";
  try {
    const page = await session.authorized(
      "GET",
      `/rooms/${encodeURIComponent(timeline.name)}/messages?${query}`,
    );
    timeline.historyLoaded = true;
    timeline.hasOlder = page.has_more;
    for (const message of page.messages) show(timeline, message);
    view.historyState.textContent = timeline.hasOlder ? "" : "The beginning of the room.";
  } catch (error) {
    view.historyState.textContent = `History could not be read: ${describe(error)}`;
  }
}

view.messages.addEventListener("scroll", async () => {
  const timeline = current === null ? undefined : rooms.get(current);
  if (timeline === undefined || loadingOlder || !timeline.hasOlder) return;
  if (view.messages.scrollTop > OLDER_THRESHOLD_PX || timeline.oldestSeq === null) return;
  loadingOlder = true;
  // Keep what the person is reading in place while older messages go in above it.
  const fromBottom = view.messages.scrollHeight - view.messages.scrollTop;
  await loadHistory(timeline, timeline.oldestSeq);
  view.messages.scrollTop = view.messages.scrollHeight - fromBottom;
  loadingOlder = false;
});

// ---- Messages ----------------------------------------------------------------------

/** Adds a message to its room, and to the log if the room is on screen. */
function show(timeline, message) {
  const position = timeline.add(message);
  if (position < 0 || timeline.name !== current) return;
  const follow = isAtNewest();
  view.messageList.insertBefore(messageItem(message), view.messageList.children[position] ?? null);
  if (follow) scrollToNewest();
}

function messageItem(message) {
  const item = document.createElement("li");
  item.className = "message";
  item.dataset.seq = String(message.seq);
  const sender = document.createElement("span");
  sender.className = "sender";
  sender.textContent = message.sender.first_name || "Someone";
  const time = document.createElement("time");
  time.dateTime = message.created_at;
  time.textContent = new Date(message.created_at).toLocaleTimeString([], {
    hour: "2-digit",
    minute: "2-digit",
  });
  const body = document.createElement("p");
  body.className = "body";
  body.textContent = message.body;
  item.append(sender, " ", time, body);
  return item;
}

function isAtNewest() {
  const log = view.messages;
  return log.scrollHeight - log.scrollTop - log.clientHeight < 40;
}

function scrollToNewest() {
  view.messages.scrollTop = view.messages.scrollHeight;
}

/** Acknowledges what the open room shows, once a burst of messages has settled. */
function acknowledge(timeline) {
  if (timeline.name !== current || document.visibilityState === "hidden") return;
  clearTimeout(ackTimers.get(timeline.name));
  ackTimers.set(
    timeline.name,
    setTimeout(() => {
      const shown = timeline.newestSeq;
      if (shown === null || shown <= timeline.ackedSeq || timeline.name !== current) return;
      if (connection.send({ type: "ack", room: timeline.name, seq: shown })) {
        timeline.ackedSeq = shown;
        renderRooms();
      }
    }, ACK_DELAY_MS),
  );
}

document.addEventListener("visibilitychange", () => {
  const timeline = current === null ? undefined : rooms.get(current);
  if (timeline !== undefined) acknowledge(timeline);
});

view.message.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    view.compose.requestSubmit();
  }
});

view.compose.addEventListener("submit", (event) => {
  event.preventDefault();
  const body = view.message.value;
  if (current === null || body.trim() === "") return;
  connection.publish(current, body);
  view.message.value = "";
});

/** Publishes not yet acknowledged by the server, shown apart from the log. */
function renderUnsent() {
  const items = unsentFrames
    .filter((frame) => frame.room === current)
    .map((frame) => {
      const item = document.createElement("li");
      item.textContent = `Sending: ${frame.body}`;
      return item;
    });
  view.unsent.replaceChildren(...items);
}

// ---- Frames ------------------------------------------------------------------------

function receive(frame) {
  switch (frame.type) {
    case "joined": {
      const timeline = timelineOf(frame.room);
      timeline.reached(frame.last_seq);
      if (!frame.recovered && frame.room === current) {
        view.historyState.textContent = "Some messages are older than the room keeps.";
      }
      renderRooms();
      if (frame.room === joining) {
        joining = null;
        selectRoom(frame.room);
      } else if (frame.room === current) {
        askPresence();
      }
      break;
    }
    case "message": {
      const timeline = timelineOf(frame.room);
      show(timeline, frame);
      // The server announces members' connections coming and going, not a connected
      // member joining the room: a stranger speaking is one, so ask who is here.
      if (frame.room === current && !timeline.present.has(frame.sender.id)) askPresence();
      renderRooms();
      acknowledge(timeline);
      break;
    }
    case "left":
      rooms.delete(frame.room);
      if (frame.room === current) selectRoom(null);
      else renderRooms();
      break;
    case "presence": {
      const timeline = rooms.get(frame.room);
      if (timeline === undefined) break;
      timeline.present = new Map(frame.users.map((user) => [user.id, user]));
      renderPresent();
      break;
    }
    case "presence_join":
      rooms.get(frame.room)?.present.set(frame.user.id, frame.user);
      renderPresent();
      break;
    case "presence_leave":
      rooms.get(frame.room)?.present.delete(frame.user.id);
      renderPresent();
      break;
    case "error":
      if (frame.code !== "rate_limited") showProblem(frame.message);
      if (frame.room === joining) joining = null;
      break;
  }
}

/**
 * Asks who is in the open room (the answer is a `presence` frame), once for a burst of
 * reasons (a replay of many messages), since frames are budgeted.
 */
function askPresence() {
  if (presenceTimer !== null) return;
  presenceTimer = setTimeout(() => {
    presenceTimer = null;
    if (current !== null) connection.send({ type: "presence", room: current });
  }, ACK_DELAY_MS);
}

// Members who join the room while connected are not announced (see "message" above);
// a slow refresh keeps the list right when they stay silent.
setInterval(askPresence, PRESENCE_REFRESH_MS);

function renderPresent() {
  const timeline = current === null ? undefined : rooms.get(current);
  const users = [...(timeline?.present.values() ?? [])].sort((a, b) =>
    a.first_name.localeCompare(b.first_name),
  );
  view.present.replaceChildren(
    ...users.map((user) => {
      const item = document.createElement("li");
      const name = `${user.first_name} ${user.last_name}`.trim() || "Someone";
      item.textContent = user.id === me?.id ? `${name} (you)` : name;
      if (user.state === "idle") item.classList.add("idle");
      return item;
    }),
  );
}

// ---- Start -------------------------------------------------------------------------

function showProblem(text) {
  view.problem.textContent = text;
}

function describe(error) {
  if (error instanceof ApiError) return error.describe();
  return "The server could not be reached. Check the connection and try again.";
}

if (session.canResume) {
  enterChat().catch((error) => {
    if (error instanceof ApiError && error.status === 401) session.forget();
    else showProblem(describe(error));
    leaveChat();
  });
}
