// qwenfree admin dashboard: the key, loading, summary cards, charts and the self-check, through
// /admin/api only (the accounts and keys tables are in accounts.js, charts in charts.js, both
// using the helpers this file shares as window.qwenfreeAdmin). Hand-written, no dependencies. The admin key is kept in sessionStorage (this tab only) and sent as a Bearer
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
  var key = Q.load("sessionStorage", STORAGE_KEY) || "";
  // Shared with accounts.js (function declarations are hoisted, so this may come first).
  var A = (window.qwenfreeAdmin = {
    $: $, el: el, code: code, say: say, fail: fail, api: api, cell: cell, when: when,
    stateName: stateName, duration: duration, pause: pause, resume: resume,
    load: function () {
      return load();
    },
  });

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
  A.STATES = STATES;
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
        A.renderAccounts(results[0]);
        A.renderKeys(results[1]);
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
      $(id).addEventListener("submit", A.addAccount);
    });
    $("admin-forget").addEventListener("click", forget);
    $("doctor-run").addEventListener("click", runDoctor);
    $("chart-range").addEventListener("change", load);
    $("accounts").addEventListener("click", function (event) {
      var target = event.target.closest("button[data-action]");
      if (target) {
        A.act(target.dataset.action, target.dataset.id);
      }
    });
    window.setInterval(A.tick, 1000);
    if (key) {
      start();
    }
  });
})();
