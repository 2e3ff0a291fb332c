// qwenfree admin page: accounts and caller keys, through /admin/api only.
// Hand-written, no dependencies. The admin key is kept in sessionStorage (this tab only) and
// sent as a Bearer header; data is written with textContent, never as HTML.
(function () {
  "use strict";

  var STORAGE_KEY = "qwenfree.admin";
  var REFRESH_MS = 10000;
  var timer = null;

  function $(id) {
    return document.getElementById(id);
  }

  function storedKey() {
    try {
      return window.sessionStorage.getItem(STORAGE_KEY) || "";
    } catch (err) {
      return "";
    }
  }

  function storeKey(value) {
    try {
      if (value) {
        window.sessionStorage.setItem(STORAGE_KEY, value);
      } else {
        window.sessionStorage.removeItem(STORAGE_KEY);
      }
    } catch (err) {
      // storage disabled: the key lasts until the page is closed
    }
  }

  var key = storedKey();

  function say(text) {
    $("admin-message").textContent = text;
  }

  function api(method, path, body) {
    var options = { method: method, headers: { Authorization: "Bearer " + key } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch("/admin/api/" + path, options).then(function (response) {
      return response.json().then(function (data) {
        if (response.status === 401) {
          forget();
        }
        if (!response.ok) {
          var error = (data && data.error) || {};
          throw new Error(error.message || "HTTP " + response.status);
        }
        return data;
      });
    });
  }

  function cell(row, text, className) {
    var td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "—" : String(text);
    if (className) {
      td.className = className;
    }
    row.appendChild(td);
    return td;
  }

  function when(iso) {
    return iso ? iso.replace("T", " ").replace("Z", " UTC") : "—";
  }

  function stateText(a) {
    var text = a.state;
    if (a.retry_in) {
      text += " (" + Math.ceil(a.retry_in / 60) + " min)";
    }
    if (a.reason) {
      text += ": " + a.reason;
    }
    return text;
  }

  function button(label, action, id) {
    var b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.dataset.action = action;
    b.dataset.id = id;
    return b;
  }

  function renderAccounts(data) {
    var body = $("accounts").querySelector("tbody");
    body.replaceChildren();
    data.accounts.forEach(function (a) {
      var row = document.createElement("tr");
      row.dataset.state = a.state;
      cell(row, a.alias + (a.email ? " · " + a.email : ""));
      cell(row, stateText(a), "state state-" + a.state);
      cell(row, (a.token || "—") + " · expires " + when(a.token_expires));
      cell(row, a.requests + " req · " + a.failures + " failed · busy " + a.busy);
      cell(row, a.last_error ? a.last_error + " (" + when(a.last_error_at) + ")" : null);
      var actions = cell(row, "");
      actions.textContent = "";
      actions.appendChild(button("Check", "check", a.id));
      if (a.signs_in) {
        actions.appendChild(button("Sign in again", "refresh", a.id));
      }
      actions.appendChild(button("Remove", "remove", a.id));
      body.appendChild(row);
    });
    var counts = Object.keys(data.counts).map(function (name) {
      return name + ": " + data.counts[name];
    });
    $("account-counts").textContent =
      counts.join(" · ") + " · at most " + data.concurrency + " answers at once per account";
  }

  function renderKeys(data) {
    var body = $("keys").querySelector("tbody");
    body.replaceChildren();
    data.keys.forEach(function (k) {
      var row = document.createElement("tr");
      cell(row, k.key + " (" + k.id + ")");
      cell(row, k.requests);
      cell(row, k.failed);
      cell(row, k.input_tokens + " / " + k.output_tokens);
      cell(row, when(k.last_used));
      body.appendChild(row);
    });
    $("rate-limit").textContent = data.rate_limit
      ? "Rate limit per key: " + data.rate_limit
      : "No rate limit per key.";
  }

  function load() {
    return Promise.all([api("GET", "accounts"), api("GET", "keys")])
      .then(function (results) {
        renderAccounts(results[0]);
        renderKeys(results[1]);
        $("admin-login").hidden = true;
        $("admin-panel").hidden = false;
      })
      .catch(function (err) {
        say(err.message);
      });
  }

  function start() {
    say("");
    load();
    if (timer === null) {
      timer = window.setInterval(load, REFRESH_MS);
    }
  }

  function forget() {
    key = "";
    storeKey("");
    if (timer !== null) {
      window.clearInterval(timer);
      timer = null;
    }
    $("admin-panel").hidden = true;
    $("admin-login").hidden = false;
  }

  function act(action, id) {
    var call =
      action === "remove"
        ? api("DELETE", "accounts/" + encodeURIComponent(id))
        : api("POST", "accounts/" + encodeURIComponent(id) + "/" + action);
    return call
      .then(function (data) {
        if (action === "check") {
          say(data.live ? "The token works." : "The token was rejected.");
        } else {
          say(action === "remove" ? "Removed." : "Signed in again: " + data.account.state);
        }
        return load();
      })
      .catch(function (err) {
        say(err.message);
      });
  }

  function addAccount(event) {
    event.preventDefault();
    var token = $("new-token").value.trim();
    var body = token
      ? { token: token }
      : { email: $("new-email").value.trim(), password: $("new-password").value };
    api("POST", "accounts", body)
      .then(function (data) {
        $("add-account").reset();
        say("Added " + data.account.alias + ": " + data.account.state);
        return load();
      })
      .catch(function (err) {
        say(err.message);
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    $("admin-login").addEventListener("submit", function (event) {
      event.preventDefault();
      key = $("admin-key").value.trim();
      storeKey(key);
      $("admin-key").value = "";
      start();
    });
    $("add-account").addEventListener("submit", addAccount);
    $("admin-forget").addEventListener("click", function () {
      forget();
      say("");
    });
    $("accounts").addEventListener("click", function (event) {
      var target = event.target.closest("button[data-action]");
      if (target) {
        act(target.dataset.action, target.dataset.id);
      }
    });
    if (key) {
      start();
    }
  });
})();
