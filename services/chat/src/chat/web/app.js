// The chat page (docs/clients.md#the-web-page): sessions, a streamed conversation over the
// WebSocket (/ws), and the user's memories, updated live from the socket's `memory` messages.
// No framework and no build step. Text is only ever set as textContent, except the agent's
// replies: Markdown, rendered by two vendored libraries (vendor/README.md) into DOM nodes.

import markdownit from "./vendor/markdown-it.esm.min.mjs";
import DOMPurify from "./vendor/purify.es.mjs";

const $ = (id) => document.getElementById(id);
const USER_KEY = "agent-chat.user-id";
const TOKEN_KEY = "agent-chat.token";
const USER_ID = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;
// The API's bounds (docs/chat.md): checked here too, so that nothing is sent to be refused.
const MAX_MESSAGE = 8000;
const MAX_MEMORY = 4000;

const state = {
  userId: "",
  token: "",
  sessionId: null,
  socket: null,
  reconnectDelay: 1000,
  reconnectTimer: null,
  turn: null, // {li, text, chips, markers, reply} while a reply streams
  lost: false, // the socket closed unasked: reload what the page shows once it is back
};

class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

// ---- Markdown ----------------------------------------------------------------------------------
// A reply is Markdown. markdown-it makes HTML of it with raw HTML off (a `<tag>` in the reply is
// escaped: shown as text) and images off (a remote image would leak the reader; `![a](u)` shows
// as a link); DOMPurify then keeps only what Markdown makes and returns DOM nodes (parsed in an
// inert document), so that no reply is ever written into the page as HTML. Links open in a new tab, without an opener or referrer,
// and only to http(s) and mailto: any other href (javascript:, data:, a relative path) is dropped.
const markdown = markdownit({ html: false, linkify: true });
markdown.disable("image");
// A table column's alignment comes as a style attribute, which the page's CSP refuses: a class.
markdown.core.ruler.push("alignment_classes", (state) => {
  for (const token of state.tokens) {
    const align = /text-align:(left|center|right)/.exec(token.attrGet("style") || "");
    if (!align) continue;
    token.attrs = token.attrs.filter(([name]) => name !== "style");
    token.attrJoin("class", `align-${align[1]}`);
  }
});
const MARKDOWN_TAGS = [
  "p", "br", "hr", "strong", "em", "s", "code", "pre", "blockquote", "ul", "ol", "li", "a",
  "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td",
];
const SANITIZE = {
  ALLOWED_TAGS: MARKDOWN_TAGS,
  ALLOWED_ATTR: ["href", "title", "start", "class"],
  ALLOWED_URI_REGEXP: /^(?:https?|mailto):/i,
  RETURN_DOM_FRAGMENT: true,
};
DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.nodeName === "A" && node.hasAttribute("href")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  }
});

// The reply's nodes in place of what `into` held.
function renderMarkdown(into, text) {
  into.replaceChildren(DOMPurify.sanitize(markdown.render(text), SANITIZE));
}

// ---- helpers ---------------------------------------------------------------------------------
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleString();
}

function setStatus(text, kind = "info") {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", kind === "error");
}

function randomUserId() {
  const bytes = new Uint8Array(6);
  crypto.getRandomValues(bytes);
  return "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// The subject of a JWT (the user it speaks for), read without verifying: the server verifies.
function tokenSubject(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const sub = JSON.parse(atob(payload)).sub;
    return typeof sub === "string" && USER_ID.test(sub) ? sub : null;
  } catch {
    return null;
  }
}

// One answer to a missing or refused token, whichever says it first: an HTTP 401 (the lists)
// or the socket's close 1008.
const TOKEN_REFUSED =
  "This server needs a valid token (AUTH_MODE=jwt): paste one in Token and press Use.";

function explain(error) {
  if (!(error instanceof ApiError)) return String(error.message || error);
  switch (error.status) {
    case 0:
      return `Cannot reach the chat service at ${location.origin}: is it running (make run)?`;
    case 401:
      return TOKEN_REFUSED;
    case 403:
      return "The token is for another user.";
    case 429:
      return `Too many messages: try again in ${error.retryAfter || "a few"} s.`;
    case 503:
      return error.code === "memory"
        ? "Memory is unavailable right now; the chat still answers."
        : "The service is unavailable right now; retry shortly.";
    default:
      return error.message;
  }
}

async function api(path, { method = "GET", body, headers = {} } = {}) {
  const init = { method, headers: { ...headers } };
  if (state.token) init.headers.Authorization = `Bearer ${state.token}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "unreachable", "unreachable");
  }
  if (response.status === 204) return { data: null, response };
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    let detail = data && (data.message || data.detail);
    if (Array.isArray(detail)) {
      // FastAPI's 422: what each refused field was refused for.
      detail = detail.map((e) => String(e.msg || e).replace(/^Value error, /, "")).join("; ");
    }
    const message = typeof detail === "string" && detail ? detail : `HTTP ${response.status}`;
    throw new ApiError(
      response.status,
      (data && data.error) || "",
      message,
      response.headers.get("Retry-After"),
    );
  }
  return { data, response };
}

const userPath = (rest = "") => `/users/${encodeURIComponent(state.userId)}${rest}`;

// ---- sessions --------------------------------------------------------------------------------
async function loadSessions() {
  let data;
  try {
    ({ data } = await api(userPath("/sessions?limit=50")));
  } catch (error) {
    setStatus(explain(error), "error");
    return;
  }
  const list = $("sessions");
  list.replaceChildren();
  for (const session of data.sessions) {
    const title = session.title || "New chat";
    const open = el(
      "button",
      { type: "button", class: "open", "data-session": session.session_id,
        "aria-current": String(session.session_id === state.sessionId),
        onclick: () => openSession(session.session_id) },
      el("span", { class: "title", text: title }),
      el("time", { datetime: session.last_activity, text: when(session.last_activity) }),
    );
    const remove = el("button", {
      type: "button", class: "secondary delete", text: "Delete",
      "aria-label": `Delete session ${title}`,
      onclick: () => deleteSession(session.session_id, title),
    });
    list.append(el("li", {}, open, remove));
  }
  if (!data.sessions.length) list.append(el("li", { class: "empty", text: "No sessions yet." }));
}

function markCurrent() {
  for (const button of document.querySelectorAll("#sessions .open")) {
    button.setAttribute("aria-current", String(button.dataset.session === state.sessionId));
  }
}

async function openSession(sessionId) {
  if (state.turn) return setStatus("Wait for the reply, or press Stop, before switching.");
  state.sessionId = sessionId;
  markCurrent();
  $("log").replaceChildren();
  try {
    const { data } = await api(
      userPath(`/sessions/${encodeURIComponent(sessionId)}/history?limit=200&order=oldest`),
    );
    for (const message of data.messages) {
      const item = addMessage(message.role, message.content);
      for (const tool of message.tools_used) chip(item, `tool: ${tool}`);
      if (message.interrupted) marker(item, "interrupted");
    }
    setStatus("");
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      state.sessionId = null;
      await loadSessions();
    }
    setStatus(explain(error), "error");
  }
  $("message").focus();
}

async function newSession() {
  if (state.turn) return setStatus("Wait for the reply, or press Stop, first.");
  state.sessionId = null;
  $("log").replaceChildren();
  markCurrent();
  setStatus("A new chat starts with your next message.");
  $("message").focus();
}

async function deleteSession(sessionId, title) {
  if (!window.confirm(`Delete the session “${title}” and its messages?`)) return;
  try {
    await api(userPath(`/sessions/${encodeURIComponent(sessionId)}`), { method: "DELETE" });
    if (sessionId === state.sessionId) {
      state.sessionId = null;
      $("log").replaceChildren();
    }
    setStatus(`Deleted “${title}”.`);
  } catch (error) {
    setStatus(explain(error), "error");
  }
  await loadSessions();
}

// ---- the conversation ------------------------------------------------------------------------
function addMessage(role, text) {
  const item = $("message-template").content.firstElementChild.cloneNode(true);
  item.classList.add(role);
  item.querySelector(".who").textContent = role === "user" ? "You" : "Agent";
  if (role === "user") item.querySelector(".text").textContent = text;
  else renderMarkdown(item.querySelector(".text"), text);
  $("log").append(item);
  item.scrollIntoView({ block: "end" });
  return item;
}

const chip = (item, text) => item.querySelector(".chips").append(el("span", { class: "chip", text }));
function marker(item, text, kind = "") {
  item.querySelector(".markers").append(el("span", { class: `marker ${kind}`, text }));
  item.scrollIntoView({ block: "nearest" });
}

function setRunning(running) {
  $("stop").disabled = !running;
  $("send").disabled = running;
}

// A streamed reply is rendered again from its whole text (partial Markdown, such as an open
// code fence, then looks as it will), at most once a frame however fast the deltas come.
function showReply(turn, text, { now = false } = {}) {
  turn.reply = text;
  if (now) {
    cancelAnimationFrame(turn.frame);
    turn.frame = 0;
    renderMarkdown(turn.li.querySelector(".text"), turn.reply);
    return;
  }
  if (turn.frame) return;
  turn.frame = requestAnimationFrame(() => {
    turn.frame = 0;
    renderMarkdown(turn.li.querySelector(".text"), turn.reply);
    turn.li.scrollIntoView({ block: "end" });
  });
}

function endTurn() {
  const turn = state.turn;
  if (turn && turn.frame) showReply(turn, turn.reply, { now: true }); // what came, all shown
  state.turn = null;
  setRunning(false);
  if ($("status").textContent.startsWith("Wait for the reply")) setStatus("");
}

function sendMessage(event) {
  event.preventDefault();
  const box = $("message");
  const text = box.value.trim();
  if (!text || state.turn) return;
  if (text.length > MAX_MESSAGE) {
    setStatus(`The message is ${text.length} characters; the limit is ${MAX_MESSAGE}.`, "error");
    return;
  }
  const socket = state.socket;
  if (!socket || socket.readyState !== WebSocket.OPEN) {
    setStatus("Not connected to the chat service yet: retrying…", "error");
    connect();
    return;
  }
  addMessage("user", text);
  const li = addMessage("assistant", "");
  li.setAttribute("aria-busy", "true");
  state.turn = { li, reply: "", frame: 0 };
  setRunning(true);
  const message = { type: "user_message", content: text };
  if (state.sessionId) message.session_id = state.sessionId;
  socket.send(JSON.stringify(message));
  box.value = "";
  setStatus("");
}

function onSocketMessage(raw) {
  let message;
  try {
    message = JSON.parse(raw.data);
  } catch {
    return;
  }
  const turn = state.turn;
  switch (message.type) {
    case "workflow_started":
      if (turn && state.sessionId !== message.session_id) {
        state.sessionId = message.session_id;
        loadSessions();
      }
      if (turn && message.degraded) {
        marker(turn.li, "memory unavailable");
        setStatus("Memory is unavailable right now: this reply does not use it.");
      }
      break;
    case "text_message_delta":
      if (turn) showReply(turn, turn.reply + message.text);
      break;
    case "suggested_function_call":
      if (turn) chip(turn.li, `tool: ${message.name}`);
      break;
    case "text_message":
      if (turn) showReply(turn, message.content);
      break;
    case "workflow_completed":
      if (turn) {
        showReply(turn, message.response, { now: true });
        turn.li.removeAttribute("aria-busy");
        if (message.metadata.interrupted) marker(turn.li, "interrupted");
        endTurn();
        loadSessions();
      }
      break;
    case "memory":
      onMemoryEvent(message);
      break;
    case "error":
      if (turn) {
        turn.li.removeAttribute("aria-busy");
        marker(turn.li, message.code || "error", "error");
        endTurn();
      }
      if (message.code === "not_found" || message.code === "session_deleted") {
        state.sessionId = null;
        loadSessions();
      }
      setStatus(
        message.code === "rate_limited"
          ? `Too many messages: try again in ${message.retry_after} s.`
          : message.message || message.code,
        "error",
      );
      break;
    default:
      break;
  }
}

function connect() {
  if (state.socket && state.socket.readyState <= WebSocket.OPEN) return;
  clearTimeout(state.reconnectTimer);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const query = new URLSearchParams({ user_id: state.userId });
  if (state.token) query.set("access_token", state.token);
  const socket = new WebSocket(`${scheme}://${location.host}/ws?${query}`);
  let opened = false;
  state.socket = socket;
  // data-connected says whether this socket, the current one, is open: a replaced socket's
  // events (another user's, after Use) change nothing.
  document.body.dataset.connected = "false";
  socket.addEventListener("open", () => {
    if (socket !== state.socket) return;
    opened = true;
    state.reconnectDelay = 1000;
    document.body.dataset.connected = "true";
    if (state.lost) {
      // Back after an outage: what changed meanwhile was not pushed to this page.
      state.lost = false;
      setStatus("");
      loadSessions();
      loadMemories();
    }
  });
  socket.addEventListener("message", onSocketMessage);
  socket.addEventListener("close", (event) => {
    if (socket !== state.socket) return;
    document.body.dataset.connected = "false";
    if (state.turn) {
      marker(state.turn.li, "connection lost", "error");
      state.turn.li.removeAttribute("aria-busy");
      endTurn();
    }
    if (event.code === 1008) {
      setStatus(
        event.reason.includes("another user")
          ? "The token is for another user."
          : TOKEN_REFUSED,
        "error",
      );
      return;
    }
    state.lost = true;
    const wait = `${state.reconnectDelay / 1000} s`;
    setStatus(
      opened
        ? `Connection lost: reconnecting in ${wait}…`
        : `Cannot reach the chat service at ${location.origin}: is it running (make run)? ` +
            `Trying again in ${wait}…`,
      "error",
    );
    state.reconnectTimer = setTimeout(connect, state.reconnectDelay);
    state.reconnectDelay = Math.min(state.reconnectDelay * 2, 15000);
  });
}

// ---- memories --------------------------------------------------------------------------------
function memoryItem(memory, score) {
  const li = el("li", { "data-memory": memory.id });
  li.append(el("p", { class: "content", text: memory.content }));
  const meta = [memory.kind];
  if (memory.mentions > 1) meta.push(`said ${memory.mentions}×`);
  if (score !== undefined) meta.push(`score ${score.toFixed(2)}`);
  meta.push(when(memory.updated_at || memory.created_at));
  li.append(el("span", { class: "meta", text: meta.filter(Boolean).join(" · ") }));
  const history = el("button", {
    type: "button", class: "secondary", text: "History", "aria-expanded": "false",
    "aria-label": `History of: ${memory.content.slice(0, 60)}`,
    onclick: () => toggleHistory(li, memory.id, history),
  });
  const forget = el("button", {
    type: "button", class: "secondary", text: "Forget",
    "aria-label": `Forget: ${memory.content.slice(0, 60)}`,
    onclick: () => forgetMemory(memory.id),
  });
  li.append(el("div", { class: "buttons" }, history, forget));
  return li;
}

function showMemories(items, emptyText) {
  const list = $("memories");
  list.replaceChildren(...items);
  if (!items.length) list.append(el("li", { class: "empty", text: emptyText }));
}

async function loadMemories() {
  try {
    const { data } = await api(userPath("/memories?limit=100"));
    showMemories(data.items.map((m) => memoryItem(m)), "Nothing remembered yet.");
  } catch (error) {
    showMemories([], error.status === 503 ? "Memory is unavailable right now." : explain(error));
  }
}

async function searchMemories(event) {
  event.preventDefault();
  const query = $("memory-query").value.trim();
  if (!query) return loadMemories();
  try {
    const { data } = await api(userPath(`/memories/search?k=20&q=${encodeURIComponent(query)}`));
    showMemories(data.hits.map((h) => memoryItem(h.memory, h.score)), "No memory matches.");
  } catch (error) {
    setStatus(explain(error), "error");
  }
}

async function addMemory(event) {
  event.preventDefault();
  const input = $("memory-content");
  const content = input.value.trim();
  if (!content) return;
  if (content.length > MAX_MEMORY) {
    setStatus(`A memory is at most ${MAX_MEMORY} characters (this is ${content.length}).`, "error");
    return;
  }
  try {
    const { response } = await api(userPath("/memories"), {
      method: "POST",
      body: { content },
    });
    const operation = response.headers.get("Memory-Operation");
    const said = { add: "Remembered.", noop: "Already known.", update: "Updated the old value." };
    setStatus(said[operation] || "Remembered.");
    input.value = "";
    await loadMemories();
  } catch (error) {
    setStatus(error.status === 409 ? error.message : explain(error), "error");
  }
}

async function forgetMemory(memoryId) {
  try {
    await api(userPath(`/memories/${encodeURIComponent(memoryId)}`), { method: "DELETE" });
    document.querySelector(`#memories [data-memory="${CSS.escape(memoryId)}"]`)?.remove();
    setStatus("Forgotten.");
  } catch (error) {
    setStatus(explain(error), "error");
  }
}

async function toggleHistory(li, memoryId, button) {
  const open = li.querySelector(".history");
  if (open) {
    open.remove();
    button.setAttribute("aria-expanded", "false");
    return;
  }
  try {
    const { data } = await api(userPath(`/memories/${encodeURIComponent(memoryId)}/history`));
    const list = el("ol", { class: "history" });
    for (const version of data.versions) {
      list.append(el("li", { text: `${version.operation} · ${when(version.at)}: ${version.content}` }));
    }
    li.append(list);
    button.setAttribute("aria-expanded", "true");
  } catch (error) {
    setStatus(explain(error), "error");
  }
}

function onMemoryEvent(note) {
  const memory = note.memory;
  if (note.event === "user.forgotten") return showMemories([], "Nothing remembered yet.");
  if (!memory || !memory.id) return;
  const existing = document.querySelector(`#memories [data-memory="${CSS.escape(memory.id)}"]`);
  if (note.event === "memory.deleted") {
    existing?.remove();
    return;
  }
  if ($("memory-query").value.trim()) return; // a search is shown: leave its results alone
  const item = memoryItem(memory);
  item.classList.add("fresh");
  $("memories").querySelector(".empty")?.remove();
  if (existing) existing.replaceWith(item);
  else $("memories").prepend(item);
}

// ---- start -----------------------------------------------------------------------------------
function useIdentity(userId, token) {
  state.userId = userId;
  state.token = token;
  localStorage.setItem(USER_KEY, userId);
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
  $("user-id").value = userId;
  $("token").value = token;
  state.sessionId = null;
  if (state.turn) endTurn(); // its socket goes: no end of it will come
  $("log").replaceChildren();
  if (state.socket) {
    const old = state.socket;
    state.socket = null;
    old.close();
  }
  connect();
  loadSessions();
  loadMemories();
}

function onIdentity(event) {
  event.preventDefault();
  const token = $("token").value.trim();
  const userId = (token && tokenSubject(token)) || $("user-id").value.trim();
  if (!USER_ID.test(userId)) {
    setStatus("A user id is letters, digits and . _ @ - (up to 128).", "error");
    $("user-id").focus();
    return;
  }
  setStatus("");
  useIdentity(userId, token);
}

function start() {
  $("identity").addEventListener("submit", onIdentity);
  $("composer").addEventListener("submit", sendMessage);
  $("message").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) sendMessage(event);
  });
  $("stop").addEventListener("click", () => {
    if (state.turn && state.socket?.readyState === WebSocket.OPEN) {
      state.socket.send(JSON.stringify({ type: "cancel" }));
    }
  });
  $("new-session").addEventListener("click", newSession);
  $("refresh-memories").addEventListener("click", () => {
    $("memory-query").value = "";
    loadMemories();
  });
  $("memory-search").addEventListener("submit", searchMemories);
  $("memory-add").addEventListener("submit", addMemory);
  const token = sessionStorage.getItem(TOKEN_KEY) || "";
  const stored = localStorage.getItem(USER_KEY);
  const userId = (token && tokenSubject(token)) || (stored && USER_ID.test(stored) ? stored : randomUserId());
  useIdentity(userId, token);
}

start();
