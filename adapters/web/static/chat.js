// The web chat's own script (no framework, served by the bot; CSP script-src 'self').
// The page works without it; with it, messages are sent and received without reloading.
// Every post carries a fresh client id, the citizen's message id on the server: a post
// retried after a network cut is handled once. Bot messages come as Server-Sent Events whose
// ids rise; after a cut the stream resumes after the last id shown, so nothing is lost or
// shown twice.
"use strict";

(function () {
  const main = document.getElementById("chat");
  const log = document.getElementById("log");
  const status = document.getElementById("status");
  if (!main || !log || !window.fetch || !window.EventSource) {
    return; // forms still work
  }
  const base = main.dataset.base;
  let last = Number(main.dataset.last) || 0;
  const queue = []; // posts not yet accepted by the server, in order
  let sending = false;
  let stream = null;
  let retryDelay = 500;

  function nearBottom() {
    const root = document.scrollingElement || document.documentElement;
    return root.scrollHeight - root.scrollTop - root.clientHeight < 120;
  }

  function keepScroll(wasNearBottom) {
    if (wasNearBottom) {
      const root = document.scrollingElement || document.documentElement;
      root.scrollTop = root.scrollHeight;
    }
  }

  function csrf() {
    const input = document.querySelector("#composer input[name=csrf]");
    return input ? input.value : "";
  }

  function newId() {
    if (window.crypto && crypto.randomUUID) {
      return crypto.randomUUID();
    }
    return String(Date.now()) + "-" + Math.random().toString(16).slice(2, 10);
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined) {
      node.textContent = text; // never markup: participant text stays text
    }
    return node;
  }

  function render(msg) {
    const li = el("li", "msg " + msg.role);
    li.dataset.role = msg.role;
    li.dataset.id = String(msg.id);
    if (msg.client_id) {
      li.dataset.clientId = msg.client_id;
    }
    li.appendChild(el("span", "who", msg.role === "bot" ? main.dataset.bot : main.dataset.you));
    li.appendChild(el("p", "text", msg.text));
    if (msg.link) {
      const p = el("p", "link");
      const a = el("a", "", msg.link);
      a.href = msg.link;
      p.appendChild(a);
      li.appendChild(p);
    }
    (msg.files || []).forEach(function (file) {
      const p = el("p", "file");
      const a = el("a", "", main.dataset.download.replace("{filename}", file.name));
      a.href = file.url;
      a.setAttribute("download", "");
      p.appendChild(a);
      li.appendChild(p);
    });
    if (msg.buttons && msg.buttons.length) {
      const form = el("form", "buttons");
      form.method = "post";
      form.action = base + "/send";
      msg.buttons.forEach(function (b) {
        const button = el("button", "", b.label);
        button.type = "submit";
        button.name = b.kind === "choice" ? "choice" : "command";
        button.value = b.value;
        form.appendChild(button);
      });
      li.appendChild(form);
    }
    return li;
  }

  function show(msg) {
    if (msg.id <= last) {
      return; // already on the page
    }
    last = msg.id;
    const wasNearBottom = nearBottom();
    let pending = null;
    if (msg.client_id) {
      pending = log.querySelector('li.pending[data-client-id="' + CSS.escape(msg.client_id) + '"]');
    }
    const node = render(msg);
    if (pending) {
      pending.replaceWith(node);
    } else {
      log.appendChild(node);
    }
    const start = document.getElementById("start");
    if (start) {
      start.remove();
    }
    keepScroll(wasNearBottom);
  }

  function connect() {
    if (stream) {
      stream.close();
    }
    stream = new EventSource(base + "/events?after=" + last);
    stream.onopen = function () {
      retryDelay = 500;
      if (status.textContent === main.dataset.offline) {
        status.textContent = "";
      }
    };
    stream.onmessage = function (event) {
      show(JSON.parse(event.data));
    };
    stream.addEventListener("closed", function () {
      // Open in too many pages: the server closed this one, the oldest. No reconnecting, or
      // it would close another; a reload takes the conversation back here.
      stream.onerror = null;
      stream.close();
      stream = null;
      status.textContent = main.dataset.closed;
    });
    stream.onerror = function () {
      // Reconnect ourselves, from the last id shown: the browser gives up on some errors.
      stream.close();
      stream = null;
      status.textContent = main.dataset.offline;
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 8000);
    };
  }

  function pump() {
    if (sending || !queue.length) {
      return;
    }
    sending = true;
    const item = queue[0];
    fetch(base + "/send", {
      method: "POST",
      body: item.body,
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    })
      .then(function (response) {
        if (response.ok) {
          queue.shift();
          sendDelay = 500;
          if (status.textContent !== main.dataset.offline) {
            status.textContent = "";
          }
          return;
        }
        if (response.status === 403) {
          queue.shift();
          status.textContent = main.dataset.expired;
          return;
        }
        if (response.status === 429) {
          status.textContent = main.dataset.busy;
        }
        throw new Error("status " + response.status);
      })
      .catch(function () {
        // Offline or refused for now: the same post (same client id) is sent again later.
        sendDelay = Math.min(sendDelay * 2, 8000);
        return new Promise(function (resolve) {
          setTimeout(resolve, sendDelay);
        });
      })
      .then(function () {
        sending = false;
        pump();
      });
  }
  let sendDelay = 500;

  function post(form, submitter) {
    const data = new FormData(form, submitter || undefined);
    const id = newId();
    data.set("client_id", id);
    data.set("csrf", csrf());
    data.set("lang", main.dataset.lang);
    const shown = submitter && submitter.name ? submitter.textContent : String(data.get("text") || "");
    if (!shown.trim()) {
      return;
    }
    const wasNearBottom = nearBottom();
    const li = render({ id: 0, role: "citizen", text: shown, client_id: id });
    li.classList.add("pending");
    log.appendChild(li);
    keepScroll(wasNearBottom);
    queue.push({ body: new URLSearchParams(data) });
    pump();
  }

  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.action.endsWith("/send")) {
      return; // language links go through the server as pages
    }
    event.preventDefault();
    post(form, event.submitter);
    if (form.id === "composer") {
      form.reset();
      document.getElementById("text").focus();
    }
  });

  // Enter sends, Shift+Enter makes a new line, as in other chats.
  const text = document.getElementById("text");
  text.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      document.getElementById("composer").requestSubmit();
    }
  });

  keepScroll(true);
  connect();
})();
