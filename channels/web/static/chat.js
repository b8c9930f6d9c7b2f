// The candidate chat page: talks to POST <base>/messages, which speaks the Rasa REST contract
// ({"sender", "message", "metadata": {"message_id"}} -> [{"recipient_id", "text", "buttons"?}]).
// Every text from the server is shown with textContent, never parsed as HTML.
// "My progress" draws the candidate's practice progress (GET <base>/progress?sender=...) as an
// inline SVG chart per role, with the same numbers as a list for screen readers and everyone else.
// Messages the bot sends unprompted (HR's answers) arrive on GET <base>/events?sender=... (server-sent
// events) while the page is open; without it they come with the next reply.
"use strict";

(() => {
  const KEYS = {
    sender: "interviewer.web.sender",
    started: "interviewer.web.started",
    invites: "interviewer.web.invites",
    log: "interviewer.web.log",
    pushed: "interviewer.web.pushed",
  };
  const RETRY_DELAY_MS = 1000;
  const EVENTS_RETRY_MS = 5000;
  const TIMEOUT_MS = 60000;
  const MAX_LOG_ENTRIES = 300;
  const TOKEN = /^[A-Za-z0-9_-]{1,128}$/;

  const chat = document.getElementById("chat");
  const log = document.getElementById("log");
  const typing = document.getElementById("typing");
  const errorLine = document.getElementById("error");
  const form = document.getElementById("composer");
  const input = document.getElementById("message");
  const endpoint = chat.dataset.endpoint;
  const allStrings = JSON.parse(document.getElementById("chat-strings").textContent);
  const params = new URLSearchParams(window.location.search);

  // --- language: ?lang=zh wins, then the browser's languages -----------------------------------

  function pickLanguage() {
    const asked = [params.get("lang"), ...(navigator.languages || [navigator.language])];
    for (const tag of asked) {
      const primary = (tag || "").toLowerCase().split("-")[0];
      if (Object.hasOwn(allStrings, primary)) return primary;
    }
    return document.documentElement.lang in allStrings ? document.documentElement.lang : "en";
  }

  const language = pickLanguage();
  const t = allStrings[language];
  document.documentElement.lang = language;
  document.title = t.page_title;
  for (const el of document.querySelectorAll("[data-text]")) el.textContent = t[el.dataset.text];
  for (const el of document.querySelectorAll("[data-placeholder]")) el.placeholder = t[el.dataset.placeholder];
  for (const el of document.querySelectorAll("[data-label]")) el.setAttribute("aria-label", t[el.dataset.label]);

  // --- storage: the sender id is the conversation key, so it must be random and kept -------------

  function store(kind) {
    try {
      const s = window[kind];
      s.setItem("interviewer.web.probe", "1");
      s.removeItem("interviewer.web.probe");
      return s;
    } catch {
      const memory = new Map(); // storage is off (private mode): the conversation lasts this page
      return {
        getItem: (k) => (memory.has(k) ? memory.get(k) : null),
        setItem: (k, v) => memory.set(k, String(v)),
        removeItem: (k) => memory.delete(k),
      };
    }
  }
  const local = store("localStorage");
  const session = store("sessionStorage");

  function randomId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    // randomUUID needs a secure context (https or localhost); getRandomValues does not.
    const b = window.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function readJson(s, key, fallback) {
    try {
      const value = JSON.parse(s.getItem(key));
      return value === null ? fallback : value;
    } catch {
      return fallback;
    }
  }

  let sender = local.getItem(KEYS.sender);
  if (!sender || !/^[0-9a-f-]{36}$/.test(sender)) {
    sender = randomId();
    local.setItem(KEYS.sender, sender);
  }

  // --- the log ---------------------------------------------------------------------------------

  let entries = readJson(session, KEYS.log, []);

  function saveLog() {
    entries = entries.slice(-MAX_LOG_ENTRIES);
    session.setItem(KEYS.log, JSON.stringify(entries));
  }

  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
  }

  function bubble(who, text) {
    const item = document.createElement("div");
    item.className = `msg ${who}`;
    if (who !== "note") {
      const speaker = document.createElement("span");
      speaker.className = "visually-hidden";
      speaker.textContent = `${who === "bot" ? t.bot : t.you}: `;
      item.append(speaker);
    }
    item.append(document.createTextNode(text));
    log.append(item);
    return item;
  }

  function disableQuickReplies() {
    for (const button of log.querySelectorAll(".quick-replies button")) button.disabled = true;
  }

  function quickReplies(buttons, active) {
    const group = document.createElement("div");
    group.className = "quick-replies";
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", t.quick_replies);
    for (const { title, payload } of buttons) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = title;
      button.disabled = !active;
      button.addEventListener("click", () => {
        send(payload, { shown: title });
        input.focus();
      });
      group.append(button);
    }
    log.append(group);
  }

  function addEntry(entry, { active = true, remember = true } = {}) {
    bubble(entry.who, entry.text);
    if (entry.audio) spokenQuestion(entry.audio, active && remember);
    if (entry.buttons && entry.buttons.length) quickReplies(entry.buttons, active);
    if (remember) {
      entries.push(entry);
      saveLog();
    }
    scrollToEnd();
  }

  // A question read aloud: a player under its text (same-origin MP3), started when it is new.
  function spokenQuestion(url, play) {
    if (typeof url !== "string" || !url.startsWith(chat.dataset.voice.replace(/voice$/, "audio/"))) return;
    const player = document.createElement("audio");
    player.controls = true;
    player.preload = "none";
    player.src = url;
    player.setAttribute("aria-label", t.play_question);
    player.className = "spoken";
    log.append(player);
    if (play) player.play().catch(() => {}); // the browser may refuse until the candidate interacts
  }

  function restoreLog() {
    entries.forEach((entry, index) => addEntry(entry, { active: index === entries.length - 1, remember: false }));
  }

  // --- errors and the typing indicator ---------------------------------------------------------

  function clearError() {
    errorLine.hidden = true;
    errorLine.replaceChildren();
  }

  function showError(text, retry) {
    const line = document.createElement("span");
    line.textContent = text;
    errorLine.replaceChildren(line);
    if (retry) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = t.retry;
      button.addEventListener("click", () => {
        clearError();
        input.focus();
        retry();
      });
      errorLine.append(button);
    }
    errorLine.hidden = false;
  }

  let waiting = 0;
  function setWaiting(delta) {
    waiting += delta;
    typing.hidden = waiting === 0;
    log.setAttribute("aria-busy", waiting === 0 ? "false" : "true");
  }

  // --- sending ---------------------------------------------------------------------------------

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function postOnce(body) {
    const options = {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body,
      cache: "no-store",
      credentials: "same-origin",
    };
    if (typeof AbortSignal !== "undefined" && typeof AbortSignal.timeout === "function") {
      options.signal = AbortSignal.timeout(TIMEOUT_MS);
    }
    return fetch(endpoint, options);
  }

  // A network failure is retried once with the same message_id: the server answers a repeated id
  // from the stored reply, so the message is never processed twice.
  async function post(body) {
    try {
      return await postOnce(body);
    } catch {
      await sleep(RETRY_DELAY_MS);
      return postOnce(body);
    }
  }

  async function errorText(response) {
    if (response.status === 503) return t.error_starting;
    if (response.status >= 500) return t.error_server;
    let detail = `HTTP ${response.status}`;
    try {
      const body = await response.json();
      if (body && typeof body.error === "string") detail = body.error;
    } catch {
      // not JSON: the status says enough
    }
    return `${t.error_rejected} ${detail}`;
  }

  // Returns true when the server answered the message. `again` is what the error line's button does.
  async function deliver(text, messageId, again = () => queue(() => deliver(text, messageId))) {
    const body = JSON.stringify({ sender, message: text, metadata: { message_id: messageId } });
    setWaiting(1);
    let response;
    try {
      response = await post(body);
    } catch {
      setWaiting(-1);
      showError(t.error_network, again);
      return false;
    }
    if (!response.ok) {
      setWaiting(-1);
      showError(await errorText(response), response.status >= 500 ? again : null);
      return false;
    }
    let replies = [];
    try {
      replies = await response.json();
    } catch {
      setWaiting(-1);
      showError(t.error_server, again);
      return false;
    }
    setWaiting(-1);
    clearError();
    local.setItem(KEYS.started, "1");
    showReplies(Array.isArray(replies) ? replies : []);
    return true;
  }

  function showReplies(replies) {
    for (const reply of replies) {
      if (!reply || typeof reply.text !== "string") continue;
      const buttons = Array.isArray(reply.buttons)
        ? reply.buttons
            .filter((b) => b && typeof b.title === "string" && typeof b.payload === "string")
            .map((b) => ({ title: b.title, payload: b.payload }))
        : [];
      addEntry({ who: "bot", text: reply.text, buttons, audio: typeof reply.audio === "string" ? reply.audio : null });
    }
  }

  // Messages go one at a time, in the order the candidate sent them.
  let chain = Promise.resolve(true);
  function queue(task) {
    chain = chain.then(task, task);
    return chain;
  }

  /** Send `text`; `shown` is the candidate's bubble (a button's title), or null for none. */
  function send(text, { shown = text } = {}) {
    disableQuickReplies();
    if (shown !== null) addEntry({ who: "you", text: shown });
    const messageId = randomId();
    const delivered = queue(() => deliver(text, messageId));
    // The bot answers /progress in words; the page also draws it.
    if (text.trim().toLowerCase() === "/progress") delivered.then((ok) => ok && openProgress());
    return delivered;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    input.value = "";
    send(text);
  });

  input.addEventListener("keydown", (event) => {
    // Enter sends, Shift+Enter is a new line; Enter that ends an IME composition (Chinese) does neither.
    if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    form.requestSubmit();
  });

  // --- voice answers: MediaRecorder, uploaded as WebM/Opus to POST <base>/voice ---------------------
  // The record button toggles recording (Enter or Space on it, like any button); Escape cancels.
  // While recording, the button reads "Stop and send" (aria-pressed) and a status line counts the time.

  const recordButton = document.getElementById("record");
  const recordingLine = document.getElementById("recording");
  const voiceEndpoint = chat.dataset.voice;
  const maxSeconds = Number(chat.dataset.maxSeconds) || 180;
  const canRecord =
    typeof window.MediaRecorder === "function" && navigator.mediaDevices && navigator.mediaDevices.getUserMedia;
  let recorder = null;
  let recordTimer = null;
  let cancelled = false;

  function clock(seconds) {
    return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
  }

  function showRecording(active) {
    recordButton.setAttribute("aria-pressed", active ? "true" : "false");
    recordButton.textContent = active ? t.stop_send : t.record;
    recordButton.classList.toggle("active", active);
    chat.classList.toggle("is-recording", active);
  }

  async function startRecording() {
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch {
      showError(t.mic_denied);
      return;
    }
    clearError();
    const type = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/webm", "audio/mp4"].find(
      (candidate) => MediaRecorder.isTypeSupported && MediaRecorder.isTypeSupported(candidate),
    );
    const chunks = [];
    cancelled = false;
    recorder = type ? new MediaRecorder(stream, { mimeType: type }) : new MediaRecorder(stream);
    recorder.addEventListener("dataavailable", (event) => event.data && event.data.size && chunks.push(event.data));
    recorder.addEventListener("stop", () => {
      stream.getTracks().forEach((track) => track.stop());
      clearInterval(recordTimer);
      showRecording(false);
      const blob = new Blob(chunks, { type: recorder.mimeType || "audio/webm" });
      recorder = null;
      if (cancelled || !blob.size) {
        recordingLine.textContent = t.recording_cancelled;
        return;
      }
      recordingLine.textContent = t.sending_voice;
      sendVoice(blob);
    });
    const started = Date.now();
    recordingLine.hidden = false;
    recordingLine.textContent = t.recording.replace("{time}", clock(0));
    recordTimer = setInterval(() => {
      const seconds = Math.floor((Date.now() - started) / 1000);
      recordingLine.textContent = t.recording.replace("{time}", clock(seconds));
      if (seconds >= maxSeconds) recorder && recorder.stop();
    }, 500);
    recorder.start();
    showRecording(true);
  }

  function stopRecording(cancel = false) {
    if (!recorder) return;
    cancelled = cancel;
    recorder.stop();
  }

  async function deliverVoice(blob, messageId) {
    const form = new FormData();
    form.append("sender", sender);
    form.append("message_id", messageId);
    form.append("audio", blob, blob.type.includes("mp4") ? "answer.m4a" : "answer.webm");
    setWaiting(1);
    let response;
    try {
      response = await fetch(voiceEndpoint, { method: "POST", body: form, cache: "no-store", credentials: "same-origin" });
    } catch {
      setWaiting(-1);
      showError(t.error_network, () => queue(() => deliverVoice(blob, messageId)));
      return false;
    }
    setWaiting(-1);
    recordingLine.hidden = true;
    if (!response.ok) {
      showError(await errorText(response), response.status >= 500 ? () => queue(() => deliverVoice(blob, messageId)) : null);
      return false;
    }
    const body = await response.json().catch(() => ({}));
    clearError();
    local.setItem(KEYS.started, "1");
    const heard = typeof body.heard === "string" && body.heard ? t.voice_you.replace("{text}", body.heard) : t.voice_unheard;
    addEntry({ who: "you", text: heard });
    for (const reply of Array.isArray(body.replies) ? body.replies : []) {
      if (!reply || typeof reply.text !== "string") continue;
      const buttons = Array.isArray(reply.buttons)
        ? reply.buttons
            .filter((b) => b && typeof b.title === "string" && typeof b.payload === "string")
            .map((b) => ({ title: b.title, payload: b.payload }))
        : [];
      addEntry({ who: "bot", text: reply.text, buttons, audio: typeof reply.audio === "string" ? reply.audio : null });
    }
    return true;
  }

  function sendVoice(blob) {
    disableQuickReplies();
    const messageId = randomId();
    return queue(() => deliverVoice(blob, messageId));
  }

  if (canRecord && recordButton) {
    recordButton.hidden = false;
    recordButton.addEventListener("click", () => (recorder ? stopRecording() : startRecording()));
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && recorder) {
        event.preventDefault();
        stopRecording(true);
        recordButton.focus();
      }
    });
  }

  // --- progress across practice sessions: a chart per role, and its numbers as text --------------

  const progressToggle = document.getElementById("progress-toggle");
  const progressPanel = document.getElementById("progress");
  const progressBody = document.getElementById("progress-body");
  const progressEndpoint = chat.dataset.progress;
  const SVG_NS = "http://www.w3.org/2000/svg";
  const SERIES_STYLES = 6; // .series-0 ... .series-5 in chat.css (colour and dash pattern)
  const CHART = { width: 320, height: 150, left: 26, right: 12, top: 10, bottom: 24 };

  const pick = (texts) =>
    (texts && typeof texts === "object" && (texts[language] || Object.values(texts).find((v) => v))) || "";
  const isLevel = (value) => typeof value === "number" && Number.isFinite(value) && value >= 1 && value <= 5;

  function svg(name, attributes = {}) {
    const element = document.createElementNS(SVG_NS, name);
    for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
    return element;
  }

  function paragraph(text, className) {
    const p = document.createElement("p");
    if (className) p.className = className;
    p.textContent = text;
    return p;
  }

  // Levels 1..5 up the side, sessions 1..n along the bottom, one line per competency. The chart is
  // hidden from screen readers: the list under it says the same.
  function chart(role) {
    const { width, height, left, right, top, bottom } = CHART;
    const count = role.sessions.length;
    const x = (i) => (count === 1 ? (left + width - right) / 2 : left + (i * (width - left - right)) / (count - 1));
    const y = (level) => top + ((5 - level) * (height - top - bottom)) / 4;
    const figure = svg("svg", {
      viewBox: `0 0 ${width} ${height}`,
      class: "progress-chart",
      "aria-hidden": "true",
      focusable: "false",
    });
    for (let level = 1; level <= 5; level += 1) {
      figure.append(svg("line", { class: "grid", x1: left, x2: width - right, y1: y(level), y2: y(level) }));
      const label = svg("text", { class: "axis", x: left - 8, y: y(level) + 3, "text-anchor": "end" });
      label.textContent = String(level);
      figure.append(label);
    }
    role.sessions.forEach((_, i) => {
      const label = svg("text", { class: "axis", x: x(i), y: height - 6, "text-anchor": "middle" });
      label.textContent = String(i + 1);
      figure.append(label);
    });
    role.competencies.forEach((competency, k) => {
      const points = role.sessions
        .map((session, i) => [i, session.levels ? session.levels[competency.id] : undefined])
        .filter(([, level]) => isLevel(level));
      const group = svg("g", { class: `series series-${k % SERIES_STYLES}` });
      if (points.length > 1) {
        group.append(svg("polyline", { points: points.map(([i, level]) => `${x(i)},${y(level)}`).join(" ") }));
      }
      for (const [i, level] of points) group.append(svg("circle", { cx: x(i), cy: y(level), r: 3.5 }));
      figure.append(group);
    });
    return figure;
  }

  function seriesText(name, values) {
    return `${name}: ${values.map((v) => v.toFixed(1)).join(" → ")}`;
  }

  function legend(role) {
    const list = document.createElement("ul");
    list.className = "progress-legend";
    role.competencies.forEach((competency, k) => {
      const values = role.sessions.map((s) => (s.levels ? s.levels[competency.id] : undefined)).filter(isLevel);
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = `swatch series-${k % SERIES_STYLES}`;
      swatch.setAttribute("aria-hidden", "true");
      item.append(swatch, document.createTextNode(seriesText(pick(competency.name), values)));
      list.append(item);
    });
    const overall = role.sessions.map((s) => s.overall).filter(isLevel);
    if (overall.length) {
      const item = document.createElement("li");
      item.className = "overall";
      item.textContent = seriesText(t.progress_overall, overall);
      list.append(item);
    }
    return list;
  }

  function renderProgress(data) {
    const roles = (data && Array.isArray(data.roles) ? data.roles : []).filter(
      (r) => r && Array.isArray(r.sessions) && r.sessions.length && Array.isArray(r.competencies),
    );
    if (!roles.length) {
      progressBody.replaceChildren(paragraph(t.progress_empty));
      return;
    }
    progressBody.replaceChildren();
    for (const role of roles) {
      const figure = document.createElement("figure");
      figure.className = "progress-role";
      const caption = document.createElement("figcaption");
      caption.textContent = `${pick(role.title) || role.role}, ${t.progress_sessions.replace("{n}", role.sessions.length)}`;
      figure.append(caption, chart(role), legend(role));
      progressBody.append(figure);
    }
  }

  async function loadProgress() {
    progressBody.replaceChildren(paragraph(t.progress_loading, "progress-status"));
    try {
      const response = await fetch(`${progressEndpoint}?sender=${encodeURIComponent(sender)}`, {
        headers: { Accept: "application/json" },
        cache: "no-store",
        credentials: "same-origin",
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      renderProgress(await response.json());
    } catch {
      progressBody.replaceChildren(paragraph(t.progress_error, "progress-status"));
    }
  }

  function setProgressOpen(open) {
    progressPanel.hidden = !open;
    progressToggle.setAttribute("aria-expanded", String(open));
    if (open) loadProgress();
  }

  function openProgress() {
    setProgressOpen(true);
  }

  progressToggle.addEventListener("click", () => setProgressOpen(progressPanel.hidden));

  // --- opening: an invitation link sends "/start TOKEN"; a first visit sends "/start" ----------------

  const invite = params.get("invite");
  const usedInvites = readJson(local, KEYS.invites, []);
  const freshInvite = Boolean(invite && TOKEN.test(invite) && !usedInvites.includes(invite));

  function forgetInvite() {
    local.setItem(KEYS.invites, JSON.stringify([...usedInvites, invite].slice(-20)));
    // The token has done its work; keep it out of the address bar and the history.
    params.delete("invite");
    const query = params.toString();
    window.history.replaceState(null, "", `${window.location.pathname}${query ? `?${query}` : ""}`);
  }

  // Sent in order and not shown as the candidate's bubbles; a failure offers to retry the rest.
  async function sendOpenings(openings) {
    for (const [index, text] of openings.entries()) {
      const rest = openings.slice(index);
      const ok = await queue(() => deliver(text, randomId(), () => sendOpenings(rest)));
      if (!ok) return;
      if (text.startsWith("/start ")) forgetInvite();
    }
  }

  // --- messages pushed while the page is open ----------------------------------------------------

  // The browser reconnects a broken stream by itself, saying which event it saw last; the server then
  // sends again what came after it, so an event seen before is dropped by its id.
  let seenPushes = readJson(session, KEYS.pushed, []);

  function listen() {
    if (typeof EventSource !== "function") return; // the next reply brings them instead
    const source = new EventSource(`${chat.dataset.events}?sender=${encodeURIComponent(sender)}`);
    source.addEventListener("message", (event) => {
      if (event.lastEventId && seenPushes.includes(event.lastEventId)) return;
      let reply;
      try {
        reply = JSON.parse(event.data);
      } catch {
        return;
      }
      if (event.lastEventId) {
        seenPushes = [...seenPushes, event.lastEventId].slice(-50);
        session.setItem(KEYS.pushed, JSON.stringify(seenPushes));
      }
      showReplies([reply]);
    });
    source.addEventListener("error", () => {
      // A refused stream (the bot is starting: 503) is closed for good; try again in a while.
      if (source.readyState === EventSource.CLOSED) setTimeout(listen, EVENTS_RETRY_MS);
    });
  }

  restoreLog();
  listen();
  const started = local.getItem(KEYS.started) === "1";
  const openings = [];
  if (!started && language !== "en") openings.push(`/lang ${language}`);
  if (freshInvite) openings.push(`/start ${invite}`);
  else if (!started) openings.push("/start");
  else if (!entries.length) addEntry({ who: "note", text: t.welcome_back }, { remember: false });
  sendOpenings(openings);
})();
