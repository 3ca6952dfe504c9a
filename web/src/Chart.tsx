/**
 * The job's accuracy and loss per round, drawn by uPlot (canvas, ~50 KB). The arrays it plots
 * are also on the figure as data attributes, so a test reads exactly what is drawn.
 */
import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { QualityName } from "../../protocol/quality";

export interface RoundPoint {
  round: number;
  accuracy: number;
  loss: number;
}

/** Accuracy is plotted in percent; a regression's R² as it is. */
export function AccuracyChart({ points, metric = "accuracy" }: { points: RoundPoint[]; metric?: QualityName }) {
  const scale = metric === "accuracy" ? 100 : 1;
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const data: uPlot.AlignedData = [points.map((p) => p.round), points.map((p) => p.accuracy * scale), points.map((p) => p.loss)];

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const width = () => Math.max(260, el.clientWidth);
    const opts: uPlot.Options = {
      width: width(),
      height: 260,
      scales: { x: { time: false }, acc: { auto: true }, loss: { auto: true } },
      axes: [
        { label: "round", incrs: [1, 2, 5, 10, 20, 50, 100], values: (_u, v) => v.map((x) => String(x)) },
        { scale: "acc", label: metric === "accuracy" ? "accuracy (%)" : metric, values: (_u, v) => v.map((x) => x.toFixed(metric === "accuracy" ? 1 : 2)) },
        { scale: "loss", label: "loss", side: 1, grid: { show: false } },
      ],
      series: [
        { label: "round" },
        { label: metric, scale: "acc", stroke: "#1f7a4d", width: 2, points: { show: true, size: 7 }, value: (_u, v) => (v === null ? "—" : metric === "accuracy" ? `${v.toFixed(2)} %` : v.toFixed(3)) },
        { label: "loss", scale: "loss", stroke: "#c2571a", width: 2, dash: [6, 4], points: { show: true, size: 5 }, value: (_u, v) => (v === null ? "—" : v.toFixed(4)) },
      ],
    };
    plot.current = new uPlot(opts, data, el);
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: width(), height: 260 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // Created once; data changes go through setData below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    plot.current?.setData(data);
  });

  return (
    <figure className="chart" data-testid="accuracy-chart" data-rounds={points.map((p) => p.round).join(",")} data-accuracy={points.map((p) => p.accuracy).join(",")}>
      <div ref={box} />
      <figcaption>Global model on the requester's validation set, per closed round</figcaption>
    </figure>
  );
}
