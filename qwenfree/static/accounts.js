// qwenfree admin dashboard: the accounts table (state badges with countdowns, per-row
// feedback, Remove with a confirmation), the Token / Cookie / Email forms and the caller keys.
// Uses the helpers admin.js shares as window.qwenfreeAdmin; text is written with textContent.
(function () {
  "use strict";

  var A = window.qwenfreeAdmin;
  var bi = window.qwenfree.bi;
  var put = window.qwenfree.put;
  var $ = A.$;
  var el = A.el;
  var code = A.code;
  var say = A.say;
  var fail = A.fail;
  var api = A.api;
  var cell = A.cell;
  var when = A.when;
  var stateName = A.stateName;
  var STATES = A.STATES;
  var duration = A.duration;
  var pause = A.pause;
  var resume = A.resume;
  var load = A.load;
  var known = {}; // account ids in the last listing, to tell "added" from "already there"

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

  A.renderAccounts = renderAccounts;
  A.renderKeys = renderKeys;
  A.act = act;
  A.addAccount = addAccount;
  A.tick = tick;
})();
