// qwenfree admin dashboard: summary cards, live charts, accounts, the self-check and caller
// keys, through /admin/api only. Hand-written, no dependencies; charts are plain SVG
// (charts.js). The admin key is kept in sessionStorage (this tab only) and sent as a Bearer
// header; data is written with textContent, never as HTML. Every message exists in English and
// Chinese (qwenfree.bi), so the language switch needs no re-rendering.
(function () {
  "use strict";

  var Q = window.qwenfree;
  var bi = Q.bi;
  var put = Q.put;
  var STORAGE_KEY = "qwenfree.admin";
  var REFRESH_MS = 10000;
  var FEEDBACK_MS = 8000;
  var timer = null;
  var known = {}; // account ids in the last listing, to tell "added" from "already there"
  var key = Q.load("sessionStorage", STORAGE_KEY) || "";

  function $(id) {
    return document.getElementById(id);
  }

  function el(tag, className, child) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (child !== undefined && child !== null) {
      node.append(child);
    }
    return node;
  }

  function code(text) {
    return el("code", "", String(text));
  }

  // A message that clears itself, next to what it is about.
  function say(target, kind, en, zh) {
    target.setAttribute("data-kind", kind);
    put(target, en, zh);
    window.clearTimeout(target._clear);
    if (kind !== "busy") {
      target._clear = window.setTimeout(function () {
        target.replaceChildren();
        target.removeAttribute("data-kind");
      }, FEEDBACK_MS);
    }
  }

  function api(method, path, body) {
    var options = { method: method, headers: { Authorization: "Bearer " + key } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch("/admin/api/" + path, options).then(function (response) {
      return response
        .json()
        .catch(function () {
          return {};
        })
        .then(function (data) {
          if (response.status === 401) {
            forget();
            say($("login-message"), "bad", "The admin key was refused.", "管理密钥被拒绝。");
          }
          if (!response.ok) {
            var error = new Error(((data && data.error) || {}).message || "HTTP " + response.status);
            error.status = response.status;
            throw error;
          }
          return data;
        });
    });
  }

  function fail(target) {
    return function (err) {
      say(target, "bad", err.message, "失败：" + err.message);
    };
  }

  // --- what words the API uses, in both languages ------------------------------------------

  var STATES = {
    ready: ["ready", "可用"],
    busy: ["busy", "忙碌"],
    failing: ["failing", "出错中"],
    cooling: ["cooling down", "冷却中"],
    dead: ["dead", "已失效"],
  };
  var DIALECTS = { openai: "OpenAI", anthropic: "Anthropic", gemini: "Gemini" };

  function stateName(state) {
    var pair = STATES[state] || [state, state];
    return bi(pair[0], pair[1]);
  }

  function when(iso) {
    if (!iso) {
      return bi("never", "从未");
    }
    var date = new Date(iso);
    var text = date.toLocaleString(document.documentElement.lang === "zh-CN" ? "zh-CN" : "en-GB");
    var span = el("span", "", text);
    span.title = iso;
    return span;
  }

  function duration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    var h = Math.floor(seconds / 3600);
    var m = Math.floor((seconds % 3600) / 60);
    var s = seconds % 60;
    var mm = (h ? String(m).padStart(2, "0") : String(m)) + ":" + String(s).padStart(2, "0");
    return h ? h + ":" + mm : mm;
  }

  // --- accounts ----------------------------------------------------------------------------

  function cell(row, en, zh, content) {
    var td = el("td");
    td.setAttribute("data-label-en", en);
    td.setAttribute("data-label-zh", zh);
    if (content !== undefined && content !== null) {
      td.append(content);
    } else {
      td.append("—");
    }
    row.appendChild(td);
    return td;
  }

  function stateCell(a) {
    var box = el("div", "state-box");
    box.appendChild(el("span", "badge state state-" + a.state, stateName(a.state)));
    if (a.retry_in) {
      var left = el("span", "countdown");
      left.setAttribute("data-until", String(Date.now() + a.retry_in * 1000));
      box.appendChild(left);
    }
    if (a.reason) {
      box.appendChild(el("span", "reason", a.reason));
    }
    (a.cooldowns || []).forEach(function (c) {
      if (c.capability !== "*") {
        var line = el("span", "reason");
        line.append(code(c.capability), " ", stateName(c.kind === "dead" ? "dead" : "cooling"));
        box.appendChild(line);
      }
    });
    return box;
  }

  function tick() {
    Array.prototype.forEach.call(document.querySelectorAll(".countdown[data-until]"), function (node) {
      var left = (Number(node.getAttribute("data-until")) - Date.now()) / 1000;
      put(node, "back in " + duration(left), duration(left) + " 后恢复");
    });
  }

  function actionButton(en, zh, action, a) {
    var b = el("button", "", bi(en, zh));
    b.type = "button";
    b.dataset.action = action;
    b.dataset.id = a.id;
    b.setAttribute("aria-label", en + " " + a.alias);
    return b;
  }

  function renderAccounts(data) {
    var body = $("accounts").querySelector("tbody");
    var now = {};
    body.replaceChildren();
    data.accounts.forEach(function (a) {
      now[a.id] = true;
      var row = el("tr");
      row.dataset.state = a.state;
      row.dataset.id = a.id;
      row.dataset.source = a.source;
      var who = el("div", "who");
      who.append(el("strong", "", code(a.alias)));
      if (a.email) {
        who.append(el("span", "hint", code(a.email)));
      }
      var source = el("span", "hint");
      if (a.source === "env") {
        source.append(bi("from ", "来自 "), code("QWENFREE_ACCOUNTS"));
      } else {
        source.append(bi("added here", "在此添加"));
      }
      who.append(source);
      cell(row, "Account", "账号", who);
      cell(row, "State", "状态", stateCell(a));
      var token = el("div");
      token.append(a.token ? code(a.token) : bi("not signed in yet", "尚未登录"));
      if (a.token_expires) {
        var exp = el("span", "hint");
        exp.append(bi("expires ", "过期于 "), when(a.token_expires));
        token.append(el("br"), exp);
      }
      cell(row, "Token", "Token", token);
      var usage = el("span", "");
      usage.append(bi(a.requests + (a.requests === 1 ? " request · " : " requests · ") + a.failures + " failed · " + a.busy + " busy",
        a.requests + " 次请求 · " + a.failures + " 次失败 · " + a.busy + " 个进行中"));
      cell(row, "Usage", "用量", usage);
      var last = null;
      if (a.last_error) {
        last = el("div");
        last.append(el("span", "reason", a.last_error), el("br"));
        var at = el("span", "hint");
        at.append(when(a.last_error_at));
        last.append(at);
      }
      cell(row, "Last error", "最近错误", last);
      var actions = el("div", "actions");
      actions.append(actionButton("Check", "检测", "check", a));
      if (a.signs_in) {
        actions.append(actionButton("Sign in again", "重新登录", "refresh", a));
      }
      actions.append(actionButton("Remove", "移除", "remove", a));
      var box = el("div");
      box.append(actions, el("p", "feedback row-feedback"));
      box.lastChild.setAttribute("role", "status");
      cell(row, "Actions", "操作", box);
      body.appendChild(row);
    });
    known = now;
    $("accounts-empty").hidden = data.accounts.length > 0;
    var c = data.counts;
    $("card-ready").textContent = c.ready + (c.busy || 0);
    $("card-cooling").textContent = (c.cooling || 0) + (c.failing || 0);
    $("card-dead").textContent = c.dead || 0;
    put($("account-counts"),
      "At most " + data.concurrency + " answers at once per account.",
      "每个账号最多同时回答 " + data.concurrency + " 个请求。");
    tick();
  }

  function rowOf(id) {
    return document.querySelector('#accounts tr[data-id="' + CSS.escape(id) + '"]');
  }

  function confirmRemove(id) {
    var row = rowOf(id);
    var actions = row.querySelector(".actions");
    var fromEnv = row.dataset.source === "env";
    var ask = el("div", "confirm");
    ask.setAttribute("role", "group");
    if (fromEnv) {
      ask.append(bi("Remove it? It comes back at the next restart, from ", "确定移除？下次重启时它会从 "),
        code("QWENFREE_ACCOUNTS"), bi(".", " 中恢复。"));
    } else {
      ask.append(bi("Remove this account?", "确定移除这个账号？"));
    }
    var yes = el("button", "danger", bi("Remove", "移除"));
    yes.type = "button";
    yes.dataset.action = "confirm-remove";
    yes.dataset.id = id;
    var no = el("button", "", bi("Cancel", "取消"));
    no.type = "button";
    no.dataset.action = "cancel";
    no.dataset.id = id;
    ask.append(" ", yes, " ", no);
    actions.hidden = true;
    actions.parentNode.insertBefore(ask, actions.nextSibling);
    pause();
    no.focus();
  }

  function act(action, id) {
    var row = rowOf(id);
    var feedback = row.querySelector(".row-feedback");
    if (action === "remove") {
      return confirmRemove(id);
    }
    if (action === "cancel") {
      row.querySelector(".confirm").remove();
      row.querySelector(".actions").hidden = false;
      resume();
      return;
    }
    var call =
      action === "confirm-remove"
        ? api("DELETE", "accounts/" + encodeURIComponent(id))
        : api("POST", "accounts/" + encodeURIComponent(id) + "/" + action);
    say(feedback, "busy", "Working…", "处理中…");
    call
      .then(function (data) {
        resume();
        return load().then(function () {
          if (action === "confirm-remove") {
            say($("add-message"), "ok", "Removed " + id + ".", "已移除 " + id + "。");
            return;
          }
          var target = rowOf(id) ? rowOf(id).querySelector(".row-feedback") : feedback;
          if (action === "check") {
            say(target, data.live ? "ok" : "bad",
              data.live ? "The token works." : "The token was rejected.",
              data.live ? "token 可用。" : "token 被拒绝。");
          } else {
            say(target, "ok", "Signed in again.", "已重新登录。");
          }
        });
      })
      .catch(function (err) {
        resume();
        fail(feedback)(err);
      });
  }

  function addAccount(event) {
    event.preventDefault();
    var form = event.target;
    var kind = form.getAttribute("data-kind");
    var body =
      kind === "token"
        ? { token: $("new-token").value.trim() }
        : kind === "cookie"
          ? { cookie: $("new-cookie").value.trim() }
          : { email: $("new-email").value.trim(), password: $("new-password").value };
    var message = $("add-message");
    say(message, "busy", "Checking the credential with chat.qwen.ai…", "正在向 chat.qwen.ai 验证凭据…");
    api("POST", "accounts", body)
      .then(function (data) {
        var a = data.account;
        var again = known[a.id];
        form.reset();
        say(message, "ok",
          (again ? "Already there: " : "Added ") + a.alias + " (" + (STATES[a.state] || [a.state])[0] + ").",
          (again ? "已经存在：" : "已添加 ") + a.alias + "（" + (STATES[a.state] || [a.state, a.state])[1] + "）。");
        return load();
      })
      .catch(fail(message));
  }

  // --- caller keys -------------------------------------------------------------------------

  function renderKeys(data) {
    var body = $("keys").querySelector("tbody");
    body.replaceChildren();
    data.keys.forEach(function (k) {
      var row = el("tr");
      var name = el("div");
      name.append(code(k.key), " ");
      var print = el("span", "hint");
      print.append(bi("fingerprint ", "指纹 "), code(k.id));
      name.append(print);
      function plain(en, zh, value) {
        cell(row, en, zh, el("span", "", String(value)));
      }
      cell(row, "Key", "密钥", name);
      plain("Requests", "请求数", k.requests);
      plain("Failed", "失败", k.failed);
      plain("Tokens in / out", "输入 / 输出 token", k.input_tokens + " / " + k.output_tokens);
      cell(row, "Last used", "最近使用", when(k.last_used));
      body.appendChild(row);
    });
    put($("rate-limit"),
      data.rate_limit ? "Rate limit per key: " + data.rate_limit + "." : "No rate limit per key.",
      data.rate_limit ? "每个密钥的限流：" + data.rate_limit + "。" : "每个密钥不限流。");
  }

  // --- series: cards and charts --------------------------------------------------------------

  function renderSeries(data) {
    var today = data.today || {};
    var n = function (v) {
      return (v || 0).toLocaleString();
    };
    $("card-requests").textContent = n(today.requests);
    $("card-errors").textContent = n(today.errors);
    var short = function (v) {
      return (v || 0).toLocaleString(document.documentElement.lang, { notation: "compact" });
    };
    $("card-tokens").textContent = short(today.input_tokens) + " / " + short(today.output_tokens);
    var s = data.series;
    var C = window.qwenfreeCharts;
    function pick(prefix, label) {
      return Object.keys(s)
        .filter(function (k) {
          return k.indexOf(prefix) === 0;
        })
        .map(function (k) {
          return { label: label(k.slice(prefix.length)), values: s[k] };
        });
    }
    var start = Date.parse(data.start);
    var minutes = data.minutes;
    C.draw($("chart-requests"), pick("req:", function (d) {
      return DIALECTS[d] ? document.createTextNode(DIALECTS[d]) : d === "images" ? bi("pictures", "图片") : code(d);
    }), { kind: "bars", start: start, minutes: minutes });
    C.draw($("chart-ttfb"), [
      { label: document.createTextNode("p50"), values: s.ttfb_p50 },
      { label: document.createTextNode("p95"), values: s.ttfb_p95 },
    ], { kind: "lines", start: start, minutes: minutes });
    C.draw($("chart-errors"), pick("err:", code), { kind: "bars", start: start, minutes: minutes });
    C.draw($("chart-accounts"), pick("acct:", stateName).map(function (line) {
      return { label: line.label, values: C.carry(line.values) };
    }), { kind: "lines", start: start, minutes: minutes });
  }

  // --- the self-check (POST /admin/api/doctor, where the gateway has it) ---------------------

  var VERDICTS = {
    ok: ["ok", "正常", "ok"],
    challenged: ["challenged", "被拦截验证", "warn"],
    expired: ["expired", "已过期", "warn"],
    revoked: ["revoked", "已吊销", "bad"],
    "rate limited": ["rate limited", "被限流", "warn"],
    "changed shape": ["changed shape", "格式已变化", "bad"],
    failed: ["failed", "失败", "bad"],
    skipped: ["skipped", "已跳过", "muted"],
  };

  function runDoctor() {
    var message = $("doctor-message");
    var button = $("doctor-run");
    button.disabled = true;
    say(message, "busy", "Running… this takes a few seconds.", "运行中…需要几秒钟。");
    api("POST", "doctor", {})
      .then(function (report) {
        var body = $("doctor-steps").querySelector("tbody");
        body.replaceChildren();
        (report.steps || []).forEach(function (step) {
          var row = el("tr");
          row.dataset.verdict = step.verdict;
          var name = el("div");
          name.append(el("strong", "", step.step));
          if (step.endpoint) {
            name.append(el("br"), code(step.endpoint));
          }
          cell(row, "Step", "步骤", name);
          var v = VERDICTS[step.verdict] || [step.verdict, step.verdict, "muted"];
          cell(row, "Verdict", "结论", el("span", "badge verdict-" + v[2], bi(v[0], v[1])));
          cell(row, "HTTP", "HTTP", step.http_status === null ? null :
            code(step.http_status + (step.actual_status && String(step.actual_status) !== String(step.http_status) ? " → " + step.actual_status : "")));
          cell(row, "Code", "代码", step.code ? code(step.code) : null);
          cell(row, "Time", "耗时", el("span", "", Math.round(step.ms) + " ms"));
          cell(row, "Details", "详情", step.details ? el("span", "reason", step.details) : null);
          body.appendChild(row);
        });
        var advice = $("doctor-advice");
        advice.replaceChildren();
        (report.advice || []).forEach(function (line) {
          advice.appendChild(el("li", "reason", line));
        });
        $("doctor-result").hidden = false;
        say(message, report.ok ? "ok" : "bad",
          (report.ok ? "All steps pass. " : "A step fails. ") + (report.summary || ""),
          report.ok ? "所有步骤都通过。" : "有步骤失败，见下表。");
      })
      .catch(function (err) {
        if (err.status === 404) {
          say(message, "bad", "The self-check is not available on this gateway.", "这个网关不支持自检。");
        } else {
          fail(message)(err);
        }
      })
      .then(function () {
        button.disabled = false;
      });
  }

  // --- loading and the key -----------------------------------------------------------------

  var paused = false;

  function pause() {
    paused = true;
  }

  function resume() {
    paused = false;
  }

  function load() {
    if (paused) {
      return Promise.resolve();
    }
    var minutes = $("chart-range").value;
    return Promise.all([api("GET", "accounts"), api("GET", "keys"), api("GET", "series?minutes=" + minutes)])
      .then(function (results) {
        renderAccounts(results[0]);
        renderKeys(results[1]);
        renderSeries(results[2]);
        $("admin-login").hidden = true;
        $("admin-panel").hidden = false;
        var stamp = el("span", "", new Date().toLocaleTimeString());
        var updated = $("updated");
        updated.replaceChildren(bi("Updated ", "更新于 "), stamp);
      })
      .catch(function (err) {
        if (err.status !== 401) {
          say($("login-message"), "bad", err.message, "失败：" + err.message);
        }
      });
  }

  function start() {
    load();
    if (timer === null) {
      timer = window.setInterval(load, REFRESH_MS);
    }
  }

  function forget() {
    key = "";
    Q.save("sessionStorage", STORAGE_KEY, "");
    if (timer !== null) {
      window.clearInterval(timer);
      timer = null;
    }
    $("admin-panel").hidden = true;
    $("admin-login").hidden = false;
  }

  document.addEventListener("DOMContentLoaded", function () {
    $("admin-login").addEventListener("submit", function (event) {
      event.preventDefault();
      key = $("admin-key").value.trim();
      Q.save("sessionStorage", STORAGE_KEY, key);
      $("admin-key").value = "";
      start();
    });
    ["add-token", "add-cookie", "add-email"].forEach(function (id) {
      $(id).addEventListener("submit", addAccount);
    });
    $("admin-forget").addEventListener("click", forget);
    $("doctor-run").addEventListener("click", runDoctor);
    $("chart-range").addEventListener("change", load);
    $("accounts").addEventListener("click", function (event) {
      var target = event.target.closest("button[data-action]");
      if (target) {
        act(target.dataset.action, target.dataset.id);
      }
    });
    window.setInterval(tick, 1000);
    if (key) {
      start();
    }
  });
})();
