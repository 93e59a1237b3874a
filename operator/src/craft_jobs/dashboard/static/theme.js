// Runs before the first paint: data-theme on <html> is "light" or "dark", from
// the choice remembered in this browser, else from the system's setting (and
// follows it when it changes). live.js wires the toggle button.
(function () {
  "use strict";
  const root = document.documentElement;
  const media = window.matchMedia("(prefers-color-scheme: dark)");
  let memory = null;  // when storage is off, the choice lasts for this page
  function chosen() { try { return localStorage.getItem("cj-theme"); } catch (e) { return memory; } }
  function apply() {
    const choice = chosen();
    root.dataset.theme = choice === "light" || choice === "dark" ? choice : (media.matches ? "dark" : "light");
    root.dataset.themeChoice = choice === "light" || choice === "dark" ? choice : "system";
  }
  apply();
  media.addEventListener("change", apply);
  window.craftTheme = {
    apply: apply,
    choose: function (choice) {
      memory = choice === "system" ? null : choice;
      try {
        if (memory === null) localStorage.removeItem("cj-theme"); else localStorage.setItem("cj-theme", memory);
      } catch (e) { /* storage off: `memory` holds it */ }
      apply();
    },
  };
})();
