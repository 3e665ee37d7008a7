// neuroglancer's stylesheets, added to the page once (the bundle is shared by every viewer).
let style: HTMLStyleElement | undefined;

export function addCss(text: string): void {
  if (!style) {
    style = document.createElement("style");
    style.dataset.cavewidgets = "neuroglancer";
    document.head.append(style);
  }
  style.append(document.createTextNode(text));
}
