// qwenfree homepage: the token box (kept in this browser, written into every snippet, tested
// against /token/check) and the live model list; the playground is playground.js's. Uses
// window.qwenfree (qwenfree.js); text from the server is written with textContent, never as HTML.
(function () {
  "use strict";

  var Q = window.qwenfree;
  var $ = Q.$;
  var bi = Q.bi;
  var put = Q.put;
  var each = Q.each;
  var current = Q.current;
  var copyText = Q.copyText;
  var load = Q.load;
  var save = Q.save;
  var TOKEN_KEY = "qwenfree.token";

  // --- the token box ------------------------------------------------------------------------

  var token = load("sessionStorage", TOKEN_KEY) || "";

  var QUOTE = {
    shq: function (v) {
      return v.replace(/[\\"$`]/g, "\\$&"); // inside "..." already
    },
    sh: function (v) {
      return "'" + v.replace(/'/g, "'\\''") + "'";
    },
    py: JSON.stringify,
    js: JSON.stringify,
    json: function (v) {
      return "'" + JSON.stringify({ token: v }).replace(/'/g, "'\\''") + "'";
    },
  };

  function fillSnippets() {
    each(".fill", function (spot) {
      if (!spot.hasAttribute("data-default")) {
        spot.setAttribute("data-default", spot.textContent);
      }
      var quote = QUOTE[spot.getAttribute("data-fill")];
      spot.textContent = token ? quote(token) : spot.getAttribute("data-default");
      spot.classList.toggle("filled", Boolean(token));
    });
  }

  var KIND_ZH = {
    "access token": "访问令牌（access token）",
    "refresh token": "刷新令牌（refresh token）",
    "browser cookies": "浏览器 Cookie",
    "Tongyi ticket": "通义 ticket",
  };

  function adviceZh(answer) {
    var lasting = "请改用能长期使用的凭据：chat.qwen.ai 的 refresh_token Cookie（写成 refresh_token=<值>），或已登录页面的完整 Cookie 请求头。";
    if (!answer.live) {
      return "网站拒绝了它。" + lasting;
    }
    if (answer.kind === "access token") {
      return "可以使用，但从浏览器复制的 access token 会过期（见过期时间）。" + lasting;
    }
    return "可以使用。";
  }

  function showCheck(answer) {
    var box = $("token-result");
    box.setAttribute("data-state", answer.live ? "ok" : "bad");
    box.querySelector("dl").hidden = false;
    put($("token-live"), answer.live ? "yes" : "no", answer.live ? "是" : "否");
    put($("token-kind"), answer.kind, KIND_ZH[answer.kind] || answer.kind);
    var expires = answer.expires_at ? new Date(answer.expires_at) : null;
    if (expires) {
      $("token-expires").textContent = expires.toLocaleString(current() === "zh" ? "zh-CN" : "en-GB");
    } else {
      put($("token-expires"), "not stated", "未说明");
    }
    put($("token-advice"), answer.advice || (answer.live ? "It works." : "It does not work."), adviceZh(answer));
  }

  function testToken(event) {
    event.preventDefault();
    token = $("token-input").value.trim();
    save("sessionStorage", TOKEN_KEY, token);
    fillSnippets();
    loadModels();
    var box = $("token-result");
    if (!token) {
      box.setAttribute("data-state", "bad");
      put($("token-advice"), "Paste a credential first.", "请先粘贴凭据。");
      return;
    }
    box.setAttribute("data-state", "busy");
    if ($("token-box").getAttribute("data-mode") === "key") {
      return testKey(box);
    }
    put($("token-advice"), "Asking chat.qwen.ai…", "正在询问 chat.qwen.ai…");
    var headers = { "Content-Type": "application/json", Authorization: "Bearer " + token };
    fetch("/token/check", { method: "POST", headers: headers, body: JSON.stringify({ token: token }) })
      .then(function (response) {
        return response.json().then(function (data) {
          if (!response.ok) {
            throw new Error((data.error && data.error.message) || "HTTP " + response.status);
          }
          showCheck(data);
        });
      })
      .catch(function (err) {
        box.setAttribute("data-state", "bad");
        box.querySelector("dl").hidden = true;
        put($("token-advice"), "The check failed: " + err.message, "检测失败：" + err.message);
      });
  }

  // With caller keys the box holds this server's API key: a model list proves it works.
  function testKey(box) {
    fetch("/v1/models", { headers: { Authorization: "Bearer " + token } })
      .then(function (response) {
        var live = response.ok;
        box.setAttribute("data-state", live ? "ok" : "bad");
        box.querySelector("dl").hidden = false;
        put($("token-live"), live ? "yes" : "no", live ? "是" : "否");
        put($("token-kind"), "API key of this server", "本服务器的 API 密钥");
        put($("token-expires"), "never", "不会过期");
        put($("token-advice"),
          live ? "It works." : "This server refused the key: ask its operator for one.",
          live ? "可以使用。" : "本服务器拒绝了这个密钥：请向管理员索取。");
      })
      .catch(function (err) {
        box.setAttribute("data-state", "bad");
        put($("token-advice"), "The check failed: " + err.message, "检测失败：" + err.message);
      });
  }

  function setUpTokenBox() {
    var form = $("token-box");
    if (!form) {
      return;
    }
    form.hidden = false;
    $("token-input").value = token;
    $("token-show").addEventListener("change", function (event) {
      $("token-input").type = event.target.checked ? "text" : "password";
    });
    $("token-forget").addEventListener("click", function () {
      token = "";
      $("token-input").value = "";
      save("sessionStorage", TOKEN_KEY, "");
      fillSnippets();
      $("token-result").setAttribute("data-state", "idle");
      $("token-result").querySelector("dl").hidden = true;
      $("token-advice").replaceChildren();
    });
    form.addEventListener("submit", testToken);
    $("token-input").addEventListener("input", function () {
      token = $("token-input").value.trim();
      save("sessionStorage", TOKEN_KEY, token);
      fillSnippets();
    });
    var later = null;
    $("token-input").addEventListener("input", function () {
      window.clearTimeout(later);
      later = window.setTimeout(loadModels, 400);
    });
    fillSnippets();
  }

  // --- models and status --------------------------------------------------------------------

  function chip(id) {
    var item = document.createElement("li");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "chip";
    var name = document.createElement("code");
    name.textContent = id;
    var done = document.createElement("span");
    done.className = "when-done";
    done.appendChild(bi(" ✓ copied", " ✓ 已复制"));
    button.append(name, done);
    button.setAttribute("aria-label", id);
    button.addEventListener("click", function () {
      copyText(id, name, button);
    });
    item.appendChild(button);
    return item;
  }

  function modelItem(model) {
    var item = document.createElement("li");
    item.className = "model";
    item.appendChild(chip(model.id).firstChild);
    var others = (model.variants || []).filter(function (v) {
      return v !== model.id;
    });
    if (others.length) {
      var list = document.createElement("ul");
      list.className = "chips small";
      others.forEach(function (v) {
        list.appendChild(chip(v));
      });
      item.appendChild(list);
    }
    return item;
  }

  function setOptions(ids) {
    var select = $("play-model");
    if (!select || !ids.length) {
      return;
    }
    var keep = select.value;
    select.replaceChildren();
    ids.forEach(function (id) {
      var option = document.createElement("option");
      option.value = option.textContent = id;
      select.appendChild(option);
    });
    if (ids.indexOf(keep) >= 0) {
      select.value = keep;
    }
  }

  function loadStatus() {
    var panel = $("live-status");
    if (!panel) {
      return;
    }
    panel.setAttribute("data-state", "loading");
    fetch(panel.getAttribute("data-url"), { headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("status " + response.status);
        }
        return response.json();
      })
      .then(function (status) {
        var list = $("model-list");
        list.replaceChildren();
        (status.models || []).forEach(function (model) {
          list.appendChild(modelItem(model));
        });
        if (!listed) {
          var ids = [status.default_model];
          (status.models || []).forEach(function (m) {
            ids = ids.concat([m.id], m.variants || []);
          });
          setOptions(ids.filter(function (v, i) {
            return v && ids.indexOf(v) === i;
          }));
        }
        panel.setAttribute("data-state", status.upstream && status.upstream.reachable ? "ok" : "down");
      })
      .catch(function () {
        panel.setAttribute("data-state", "error");
      });
  }

  var listed = false; // the picker holds /v1/models' answer (else /status's list)

  function loadModels() {
    // What this credential may use: /v1/models (in key mode it needs the caller's key).
    if (!token || !$("play-model")) {
      return;
    }
    fetch("/v1/models", { headers: { Authorization: "Bearer " + token } })
      .then(function (response) {
        return response.ok ? response.json() : { data: [] };
      })
      .then(function (list) {
        var ids = (list.data || []).map(function (m) {
          return m.id;
        });
        listed = listed || ids.length > 0;
        setOptions(ids);
      })
      .catch(function () {
        // the /status list stays
      });
  }

  // For playground.js: the credential in the box now, and the model list it may refresh.
  Q.token = function () {
    return token;
  };
  Q.loadModels = loadModels;

  document.addEventListener("DOMContentLoaded", function () {
    setUpTokenBox();
    Q.setUpPlayground(); // playground.js
    loadStatus();
  });
})();
