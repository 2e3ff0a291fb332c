// qwenfree pages: the English/Chinese switch, copy buttons and the live status.
// Hand-written, no dependencies; it talks only to this server (the page's CSP allows no other).
(function () {
  "use strict";

  var STORAGE_KEY = "qwenfree.lang";
  var LANGS = { en: "en", zh: "zh-CN" };
  var root = document.documentElement;

  function storedChoice() {
    try {
      return window.localStorage.getItem(STORAGE_KEY);
    } catch (err) {
      return null; // storage disabled: fall back to the browser's language
    }
  }

  function remember(lang) {
    try {
      window.localStorage.setItem(STORAGE_KEY, lang);
    } catch (err) {
      // storage disabled: the choice lasts for this page only
    }
  }

  function initialLanguage() {
    var stored = storedChoice();
    if (stored && LANGS[stored]) {
      return stored;
    }
    var browser = (navigator.language || "").toLowerCase();
    return browser.indexOf("zh") === 0 ? "zh" : "en";
  }

  function current() {
    return root.lang === LANGS.zh ? "zh" : "en";
  }

  function labelToggle() {
    var button = document.getElementById("lang-toggle");
    if (button) {
      // The button names the language it switches to.
      button.textContent = button.getAttribute(current() === "zh" ? "data-label-zh" : "data-label-en");
    }
  }

  function setLanguage(lang) {
    root.lang = LANGS[lang];
    labelToggle();
  }

  // Runs in <head>, before the body is painted, so a remembered choice never flickers.
  setLanguage(initialLanguage());

  function setUpToggle() {
    var button = document.getElementById("lang-toggle");
    if (!button) {
      return;
    }
    button.hidden = false;
    labelToggle();
    button.addEventListener("click", function () {
      var next = current() === "zh" ? "en" : "zh";
      setLanguage(next);
      remember(next);
    });
  }

  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function showCopied(button) {
    button.setAttribute("data-copied", "");
    window.setTimeout(function () {
      button.removeAttribute("data-copied");
    }, 1500);
  }

  function copy(button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) {
      return;
    }
    // The clipboard API needs a secure context (https or localhost); elsewhere, or when the
    // browser refuses, the text is selected so that Ctrl+C copies it.
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.textContent).then(
        function () {
          showCopied(button);
        },
        function () {
          selectText(source);
        }
      );
    } else {
      selectText(source);
    }
  }

  function setUpCopyButtons() {
    var buttons = document.querySelectorAll("button[data-copy]");
    Array.prototype.forEach.call(buttons, function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        copy(button);
      });
    });
  }

  function modelItem(model) {
    var item = document.createElement("li");
    var name = document.createElement("code");
    name.textContent = model.id;
    item.appendChild(name);
    var others = (model.variants || []).filter(function (v) {
      return v !== model.id;
    });
    if (others.length) {
      var variants = document.createElement("span");
      variants.className = "variants";
      variants.textContent = "  " + others.join(" · ");
      item.appendChild(variants);
    }
    return item;
  }

  function showStatus(panel, status) {
    var list = document.getElementById("models");
    (status.models || []).forEach(function (model) {
      list.appendChild(modelItem(model));
    });
    panel.setAttribute("data-state", status.upstream && status.upstream.reachable ? "ok" : "down");
  }

  function loadStatus() {
    var panel = document.getElementById("live-status");
    if (!panel || !window.fetch) {
      return;
    }
    window
      .fetch(panel.getAttribute("data-url"), { headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("status " + response.status);
        }
        return response.json();
      })
      .then(function (status) {
        showStatus(panel, status);
      })
      .catch(function () {
        panel.setAttribute("data-state", "error");
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpToggle();
    setUpCopyButtons();
    loadStatus();
  });
})();
