// Progressive enhancement only: the forms work without it. Evidence uploads show their progress.
document.querySelectorAll("form[data-upload]").forEach((form) => {
  form.addEventListener("submit", (event) => {
    const bar = form.querySelector("progress");
    if (!bar || !window.XMLHttpRequest) return;
    event.preventDefault();
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    bar.hidden = false;
    request.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 100);
    });
    request.addEventListener("load", () => {
      // The server answers with the task page (after a redirect) or the form with its errors.
      document.open(); document.write(request.responseText); document.close();
      if (request.responseURL) history.replaceState(null, "", request.responseURL);
    });
    request.send(new FormData(form));
  });
});

// Tables of rows (budget lines): the page offers a few empty rows; "add a row" copies the last one,
// emptied, numbered next (the row's number is the last figure of each name, id and label).
document.querySelectorAll("button[data-add-row]").forEach((button) => {
  const table = document.getElementById(button.dataset.addRow);
  if (!table) return;
  button.hidden = false;
  button.addEventListener("click", () => {
    const body = table.tBodies[0];
    const last = body.rows[body.rows.length - 1];
    const row = last.cloneNode(true);
    const n = body.rows.length;
    const renumber = (text, value) => text.replace(/\d+(?=\D*$)/, String(value));
    row.querySelectorAll("input, select, textarea").forEach((input) => {
      input.name = renumber(input.name, n);
      input.id = renumber(input.id, n);
      const label = input.getAttribute("aria-label");
      if (label) input.setAttribute("aria-label", renumber(label, n + 1));
      ["aria-invalid", "aria-describedby", "autofocus"].forEach((name) => input.removeAttribute(name));
      if (input.tagName === "SELECT") input.selectedIndex = 0; else input.value = "";
    });
    body.appendChild(row);
    row.querySelector("input, select, textarea")?.focus();
  });
});

// The page names one place to look first (a refused form's first field, a confirmation, a success):
// focus it and bring it to the middle of the screen, even when the address has a #fragment.
const first = document.querySelector("[autofocus]");
if (first) {
  first.focus();
  first.scrollIntoView({ block: "center" });
}

// "Choose all on this page": ticks or unticks every task box of the selection form it names.
document.querySelectorAll("input[data-select-all]").forEach((all) => {
  const boxes = () => document.querySelectorAll(`input[type=checkbox][form="${all.dataset.selectAll}"]`);
  all.addEventListener("change", () => boxes().forEach((box) => { box.checked = all.checked; }));
});

// A print button where the page asks for one (the dashboard as a report).
document.querySelectorAll("button[data-print]").forEach((button) => {
  button.hidden = false;
  button.addEventListener("click", () => window.print());
});
