// The fleet report's one interaction: show only the clusters with one verdict (?verdict=gap, or the select).
(function () {
  "use strict";
  var select = document.getElementById("fverdict");
  var note = document.getElementById("fnote");
  function apply(verdict) {
    var rows = document.querySelectorAll("tr[data-verdict]");
    var shown = 0, clusters = 0;
    for (var i = 0; i < rows.length; i++) {
      var hide = verdict !== "all" && rows[i].getAttribute("data-verdict") !== verdict;
      rows[i].classList.toggle("filtered", hide);
      if (rows[i].parentNode.parentNode.classList.contains("clusters")) {
        clusters++;
        if (!hide) shown++;
      }
    }
    document.body.setAttribute("data-filter", verdict);
    note.textContent = verdict === "all" ? "" : shown + " of " + clusters + " cluster(s) " + verdict;
  }
  var wanted = new URLSearchParams(window.location.search).get("verdict") || "all";
  var known = false;
  for (var j = 0; j < select.options.length; j++) known = known || select.options[j].value === wanted;
  if (!known) wanted = "all";
  select.value = wanted;
  select.addEventListener("change", function () { apply(select.value); });
  apply(wanted);
})();
