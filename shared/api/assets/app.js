// outreach dashboard: the one script. It only counts, as a planner types an SMS template,
// how many characters and SMS segments it will take, with the answer question when the
// rule asks it (the server checks again on save).
(function () {
  "use strict";
  var GSM = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var EXT = "^{}\\[~]|€\f";
  function unaccent(s) {
    return s.replace(/đ/g, "d").replace(/Đ/g, "D").normalize("NFD").replace(/[\u0300-\u036f]/g, "");
  }
  function count(text) {
    var units = 0, gsm = true;
    for (var ch of text) {
      if (GSM.indexOf(ch) >= 0) units += 1;
      else if (EXT.indexOf(ch) >= 0) units += 2;
      else { gsm = false; break; }
    }
    if (!gsm) units = text.length;
    var single = gsm ? 160 : 70, multi = gsm ? 153 : 67;
    var segments = units === 0 ? 0 : units <= single ? 1 : Math.ceil(units / multi);
    return { units: units, segments: segments, gsm: gsm };
  }
  document.querySelectorAll("textarea[data-segments]").forEach(function (area) {
    var out = document.getElementById(area.dataset.segments);
    var unicodeBox = area.form && area.form.querySelector("input[name=unicode]");
    // A rule that asks whether people will come ends its SMS with the question.
    var answerBox = area.dataset.answer && area.form && area.form.querySelector("input[name=" + area.dataset.answer + "]");
    function update() {
      var sample = {
        name: "WWWWWWWWWWWWWWWWWWWW", commune: area.dataset.commune || "Xã Tân Thịnh",
        venue: (area.form.querySelector("[name=venue]") || {}).value || "",
        date: "03/10/2026", time: "08:00", campaign: (area.form.querySelector("[name=name]") || {}).value || ""
      };
      var text = area.value.replace(/\{(\w+)\}/g, function (m, k) { return k in sample ? sample[k] : ""; });
      if (answerBox && answerBox.checked && area.dataset.prompt) {
        var body = text.trimEnd();
        text = (body + (body === "" || /[.!?]$/.test(body) ? "" : ".") + " " + area.dataset.prompt).trimStart();
      }
      if (!(unicodeBox && unicodeBox.checked)) text = unaccent(text);
      var c = count(text);
      out.textContent = "Ước tính: " + c.units + " ký tự, " + c.segments + " tin" + (c.gsm ? "" : " (Unicode: 70 ký tự/tin)") + ".";
      out.classList.toggle("over", c.segments > 2);
    }
    area.addEventListener("input", update);
    if (unicodeBox) unicodeBox.addEventListener("change", update);
    if (answerBox) answerBox.addEventListener("change", update);
    update();
  });
})();
