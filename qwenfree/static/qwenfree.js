// qwenfree pages: the English/Chinese switch, copy buttons, tabs, snippet colours and the
// reference's search, shared by every page as window.qwenfree (the homepage's token box and
// playground are in quickstart.js). Hand-written, no dependencies; it talks only to this server
// (the page's CSP allows no other). Text from the server is written with textContent.
(function () {
  "use strict";

  var STORAGE_KEY = "qwenfree.lang";
  var LANGS = { en: "en", zh: "zh-CN" };
  var root = document.documentElement;

  function load(store, name) {
    try {
      return window[store].getItem(name);
    } catch (err) {
      return null; // storage disabled
    }
  }

  function save(store, name, value) {
    try {
      if (value) {
        window[store].setItem(name, value);
      } else {
        window[store].removeItem(name);
      }
    } catch (err) {
      // storage disabled: the value lasts for this page only
    }
  }

  function initialLanguage() {
    var stored = load("localStorage", STORAGE_KEY);
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

  // Both languages at once, as the templates do: the stylesheet shows the chosen one, so a
  // later switch needs no re-rendering.
  function bi(en, zh) {
    var box = document.createElement("span");
    [["en", en], ["zh-CN", zh === undefined ? en : zh]].forEach(function (pair) {
      var span = document.createElement("span");
      span.lang = pair[0];
      span.textContent = pair[1];
      box.appendChild(span);
    });
    return box;
  }

  function put(element, en, zh) {
    element.replaceChildren(bi(en, zh));
  }

  function $(id) {
    return document.getElementById(id);
  }

  function each(selector, fn) {
    Array.prototype.forEach.call(document.querySelectorAll(selector), fn);
  }

  function setUpToggle() {
    var button = $("lang-toggle");
    if (!button) {
      return;
    }
    button.hidden = false;
    labelToggle();
    button.addEventListener("click", function () {
      var next = current() === "zh" ? "en" : "zh";
      setLanguage(next);
      save("localStorage", STORAGE_KEY, next);
    });
  }

  // --- copying ---------------------------------------------------------------------------

  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function copyText(text, source, button) {
    // The clipboard API needs a secure context (https or localhost); elsewhere, or when the
    // browser refuses, the text is selected so that Ctrl+C copies it.
    function done() {
      button.setAttribute("data-copied", "");
      window.setTimeout(function () {
        button.removeAttribute("data-copied");
      }, 1500);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () {
        if (source) {
          selectText(source);
        }
      });
    } else if (source) {
      selectText(source);
    }
  }

  function setUpCopyButtons() {
    each("button[data-copy]", function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var source = $(button.getAttribute("data-copy"));
        if (source) {
          copyText(source.textContent, source, button);
        }
      });
    });
  }

  // --- tabs: all panels show without JavaScript; with it, one at a time ---------------------

  function setUpTabs() {
    each("[role=tablist]", function (list) {
      var tabs = Array.prototype.slice.call(list.querySelectorAll("[role=tab]"));
      function choose(tab, focus) {
        tabs.forEach(function (t) {
          var on = t === tab;
          t.setAttribute("aria-selected", on ? "true" : "false");
          t.tabIndex = on ? 0 : -1;
          $(t.getAttribute("aria-controls")).hidden = !on;
        });
        if (focus) {
          tab.focus();
        }
      }
      tabs.forEach(function (tab, i) {
        tab.addEventListener("click", function () {
          choose(tab, false);
        });
        tab.addEventListener("keydown", function (event) {
          var step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
          if (step) {
            event.preventDefault();
            choose(tabs[(i + step + tabs.length) % tabs.length], true);
          }
        });
      });
      list.hidden = false;
      choose(tabs[0], false);
    });
  }

  // --- snippet colours: a few token kinds per language, on text nodes only -----------------

  var RULES = {
    sh: /(#[^\n]*)|('[^'\n]*'|"(?:[^"\\\n]|\\.)*")|(\$\{?[A-Za-z_]+\}?)|((?:^|\s)-{1,2}[A-Za-z][\w-]*)|(\b(?:export|curl|mkdir|cat|claude|gemini)\b)/g,
    py: /(#[^\n]*)|('[^'\n]*'|"(?:[^"\\\n]|\\.)*")|(\b(?:True|False|None)\b)|(\b\B)|(\b(?:import|from|for|in|print)\b)/g,
    js: /(\/\/[^\n]*)|('[^'\n]*'|"(?:[^"\\\n]|\\.)*")|(\b(?:true|false|null)\b)|(\b\B)|(\b(?:import|from|const|await|for|of|new)\b)/g,
  };
  var KINDS = ["tk-comment", "tk-string", "tk-value", "tk-flag", "tk-keyword"];

  function highlight(code) {
    var rule = RULES[code.getAttribute("data-lang")];
    if (!rule) {
      return;
    }
    Array.prototype.slice.call(code.childNodes).forEach(function (node) {
      if (node.nodeType !== 3) {
        return; // a token spot keeps its own style
      }
      var text = node.nodeValue;
      var out = document.createDocumentFragment();
      var last = 0;
      rule.lastIndex = 0;
      var m;
      while ((m = rule.exec(text)) !== null) {
        if (!m[0]) {
          rule.lastIndex++;
          continue;
        }
        var kind = m.slice(1).findIndex(function (g) {
          return g;
        });
        out.appendChild(document.createTextNode(text.slice(last, m.index)));
        var span = document.createElement("span");
        span.className = KINDS[kind];
        span.textContent = m[0];
        out.appendChild(span);
        last = m.index + m[0].length;
      }
      out.appendChild(document.createTextNode(text.slice(last)));
      code.replaceChild(out, node);
    });
  }

  // --- the reference's sidebar search ----------------------------------------------------

  function setUpSearch() {
    var box = $("docs-search");
    if (!box) {
      return;
    }
    box.hidden = false;
    box.addEventListener("input", function () {
      var words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      each("[data-search]", function (item) {
        var text = item.getAttribute("data-search").toLowerCase();
        var match = words.every(function (w) {
          return text.indexOf(w) >= 0;
        });
        item.hidden = !match;
        shown += match ? 1 : 0;
      });
      $("docs-none").hidden = shown > 0;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpToggle();
    setUpSearch();
    setUpCopyButtons();
    setUpTabs();
    each("code[data-lang]", highlight); // before quickstart.js fills in the token
  });

  window.qwenfree = {
    $: $, bi: bi, put: put, each: each, current: current, copyText: copyText, load: load,
    save: save,
  };
})();
