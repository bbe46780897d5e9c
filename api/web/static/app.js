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

// The page names one place to look first (a refused form's first field, a confirmation, a success):
// focus it and bring it to the middle of the screen, even when the address has a #fragment.
const first = document.querySelector("[autofocus]");
if (first) {
  first.focus();
  first.scrollIntoView({ block: "center" });
}
