import t from "tap";
import { bar, percent, shortAddress, sparkline } from "./charts.js";

t.test("sparkline scales a series into eight levels", async (t) => {
  t.equal(sparkline([0, 0.5, 1], { min: 0, max: 1 }), "▁▅█");
  t.equal(sparkline([2, 4]), "▁█", "own range by default");
  t.equal(sparkline([3, 3]), "██", "a flat series sits at the top");
  t.equal(sparkline([]), "");
  t.equal(sparkline([0.5, NaN], { min: 0, max: 1 }), "▅ ");
});

t.test("bar fills eighths of cells and pads to the width", async (t) => {
  t.equal(bar(1, 4), "████");
  t.equal(bar(0, 4), "    ");
  t.equal(bar(0.5, 3), "█▌ ");
  t.equal(bar(2, 2), "██", "clamped");
});

t.test("percent and short addresses", async (t) => {
  t.equal(percent(0.97851), "97.85 %");
  t.equal(percent(null), "–");
  t.equal(shortAddress("0x70997970C51812dc3A010C7d01b50e0d17dc79C8"), "0x7099…79C8");
});
