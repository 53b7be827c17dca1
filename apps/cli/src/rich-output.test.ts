import { describe, expect, it } from "vitest";
import { htmlTableAsText } from "./rich-output.js";

describe("htmlTableAsText", () => {
  it("shows a DataFrame's HTML table as aligned text columns", () => {
    const html = `<div><style scoped>.dataframe tbody tr th { vertical-align: top; }</style>
<table border="1" class="dataframe">
  <thead><tr style="text-align: right;"><th></th><th>city</th><th>people</th></tr></thead>
  <tbody>
    <tr><th>0</th><td>Oslo</td><td>709000</td></tr>
    <tr><th>1</th><td>S&amp;P &lt;x&gt;</td><td>10</td></tr>
  </tbody>
</table></div>`;
    expect(htmlTableAsText(html)).toBe(["   city     people", "0  Oslo     709000", "1  S&P <x>  10"].join("\n"));
  });

  it("gives undefined for HTML without a table", () => {
    expect(htmlTableAsText("<b>bold</b>")).toBeUndefined();
  });
});
