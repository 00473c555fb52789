// The console's one script: fetch the page's content with the token kept in this tab only
// (sessionStorage, never a cookie), ask for a token when the registry wants one, refresh.
"use strict";
(() => {
  const KEY = "fate-registry-token";
  const body = document.body;
  const content = document.getElementById("content");
  const login = document.getElementById("login");
  const why = document.getElementById("login-why");
  const forget = document.getElementById("forget");
  const updated = document.getElementById("updated");
  const refresh = Math.max(1, Number(body.dataset.refresh) || 5) * 1000;
  let timer = null;

  function later() {
    clearTimeout(timer);
    timer = setTimeout(load, refresh);
  }

  async function load() {
    const token = sessionStorage.getItem(KEY);
    forget.hidden = !token;
    const headers = token ? { Authorization: "Bearer " + token } : {};
    let reply;
    try {
      reply = await fetch("/ui/fragment/" + body.dataset.page + location.search,
                          { headers, cache: "no-store", credentials: "omit" });
    } catch (error) {
      updated.textContent = "the registry does not answer; trying again";
      return later();
    }
    if (reply.status === 401) {
      if (token) sessionStorage.removeItem(KEY);
      why.textContent = token ? "That token was refused: give another." :
        "This registry protects reads: give a token (one of its admin tokens). " +
        "It is kept in this tab only.";
      login.hidden = false;
      content.textContent = "";
      return;
    }
    if (!reply.ok) {
      updated.textContent = "error " + reply.status + ": " + (await reply.text()).slice(0, 200);
      return later();
    }
    login.hidden = true;
    content.innerHTML = await reply.text();
    updated.textContent = "updated " + new Date().toLocaleTimeString();
    later();
  }

  login.addEventListener("submit", (event) => {
    event.preventDefault();
    const field = document.getElementById("token");
    sessionStorage.setItem(KEY, field.value.trim());
    field.value = "";
    load();
  });
  forget.addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    load();
  });
  load();
})();
