// a11y_check.js — an automated accessibility check run in the page by
// web_driver.py (WebDriver execute): returns a list of problems, [] when
// none. What it checks, after WCAG 2.1 AA: the page's language; a label
// for every form control; a name for every button and image; one h1;
// tab order not broken by positive tabindex; and the contrast of every
// visible text against the background it sits on (4.5:1, 3:1 for large
// text). Written here because no such checker is packaged in Debian.
const problems = [];
const visible = (e) => {
  const r = e.getBoundingClientRect();
  const s = getComputedStyle(e);
  return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && s.display !== "none";
};
if (!document.documentElement.lang) problems.push("html has no lang");
for (const c of document.querySelectorAll("input, select, textarea")) {
  if (!visible(c)) continue;
  const named = (c.id && document.querySelector('label[for="' + c.id + '"]')) || c.getAttribute("aria-label") ||
                c.getAttribute("aria-labelledby");
  if (!named) problems.push("control without a label: " + (c.id || c.outerHTML.slice(0, 60)));
}
for (const b of document.querySelectorAll("button")) {
  if (visible(b) && !(b.textContent.trim() || b.getAttribute("aria-label")))
    problems.push("button without a name: " + b.outerHTML.slice(0, 60));
}
for (const i of document.querySelectorAll("img, svg[role=img]")) {
  if (!(i.getAttribute("alt") || i.getAttribute("aria-label") || i.getAttribute("aria-labelledby")))
    problems.push("image without a name: " + i.outerHTML.slice(0, 60));
}
if (document.querySelectorAll("h1").length !== 1) problems.push("not one h1");
for (const e of document.querySelectorAll("[tabindex]"))
  if (parseInt(e.getAttribute("tabindex"), 10) > 0) problems.push("positive tabindex: " + e.id);

const rgb = (s) => (s.match(/[\d.]+/g) || [0, 0, 0, 0]).map(Number);
const lum = (c) => {
  const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
};
const background = (e) => {
  for (let n = e; n; n = n.parentElement) {
    const c = rgb(getComputedStyle(n).backgroundColor);
    if (c.length < 4 || c[3] > 0.99) return c;
  }
  return [255, 255, 255];
};
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
const seen = new Set();
for (let t = walker.nextNode(); t; t = walker.nextNode()) {
  const e = t.parentElement;
  if (!t.textContent.trim() || !e || seen.has(e) || !visible(e) || e.closest("svg")) continue;
  seen.add(e);
  const s = getComputedStyle(e);
  const fg = rgb(s.color), bg = background(e);
  const l1 = lum(fg), l2 = lum(bg);
  const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
  const size = parseFloat(s.fontSize), bold = parseInt(s.fontWeight, 10) >= 700;
  const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
  if (ratio < need)
    problems.push("contrast " + ratio.toFixed(2) + " < " + need + ": '" + t.textContent.trim().slice(0, 30) + "'");
}
return problems;
