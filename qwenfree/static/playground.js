// qwenfree homepage: the playground, one streamed chat completion with the credential from
// the token box (quickstart.js, which calls Q.setUpPlayground once the page is ready). Text from
// the server is written with textContent, never as HTML.
(function () {
  "use strict";

  var Q = window.qwenfree;
  var $ = Q.$;
  var put = Q.put;

  var running = null;

  function playState(en, zh) {
    put($("play-state"), en, zh);
  }

  function readStream(response, onEvent) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    function pump() {
      return reader.read().then(function (part) {
        if (part.done) {
          return;
        }
        buffer += decoder.decode(part.value, { stream: true });
        var blocks = buffer.split("\n\n");
        buffer = blocks.pop();
        blocks.forEach(function (block) {
          block.split("\n").forEach(function (line) {
            if (line.indexOf("data:") === 0) {
              var data = line.slice(5).trim();
              if (data && data !== "[DONE]") {
                onEvent(JSON.parse(data));
              }
            }
          });
        });
        return pump();
      });
    }
    return pump();
  }

  function play(event) {
    event.preventDefault();
    var prompt = $("play-prompt").value.trim();
    var token = Q.token();
    if (!token) {
      playState("Enter your credential in step 1 first.", "请先在第 1 步输入你的凭据。");
      $("token-input").focus();
      return;
    }
    if (!prompt) {
      playState("Write a prompt first.", "请先输入提示词。");
      $("play-prompt").focus();
      return;
    }
    var thinking = $("play-thinking");
    var answer = $("play-answer");
    thinking.textContent = "";
    answer.textContent = "";
    $("play-thinking-box").hidden = true;
    running = new AbortController();
    $("play-send").disabled = true;
    $("play-stop").disabled = false;
    playState("Waiting for the first words…", "等待回答…");
    var body = {
      model: $("play-model").value,
      stream: true,
      messages: [{ role: "user", content: prompt }],
    };
    fetch("/v1/chat/completions", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + token },
      body: JSON.stringify(body),
      signal: running.signal,
    })
      .then(function (response) {
        if (!response.ok) {
          return response.json().then(function (data) {
            throw new Error((data.error && data.error.message) || "HTTP " + response.status);
          });
        }
        playState("Answering…", "正在回答…");
        return readStream(response, function (chunk) {
          var delta = (chunk.choices && chunk.choices[0] && chunk.choices[0].delta) || {};
          if (delta.reasoning_content) {
            $("play-thinking-box").hidden = false;
            thinking.textContent += delta.reasoning_content;
          }
          if (delta.content) {
            answer.textContent += delta.content;
          }
        });
      })
      .then(function () {
        playState("Done.", "完成。");
      })
      .catch(function (err) {
        if (err.name === "AbortError") {
          playState("Stopped.", "已停止。");
        } else {
          playState("Failed: " + err.message, "失败：" + err.message);
        }
      })
      .then(function () {
        running = null;
        $("play-send").disabled = false;
        $("play-stop").disabled = true;
      });
  }

  Q.setUpPlayground = function () {
    var form = $("playground");
    if (!form) {
      return;
    }
    $("try").hidden = false;
    form.addEventListener("submit", play);
    $("play-stop").addEventListener("click", function () {
      if (running) {
        running.abort();
      }
    });
    Q.loadModels();
  };
})();
