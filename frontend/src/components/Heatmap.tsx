import { useEffect, useRef } from "react";

/** Grad-CAM grid drawn over the preview: transparent where the model did not look, ember to gold where it did. */
export function Heatmap({ grid }: { grid: number[][] }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const context = canvas.current?.getContext("2d");
    if (!context || grid.length === 0) return;
    const rows = grid.length;
    const cols = grid[0].length;
    context.canvas.width = cols;
    context.canvas.height = rows;
    const pixels = context.createImageData(cols, rows);
    grid.flat().forEach((value, i) => {
      const v = Math.min(1, Math.max(0, value));
      pixels.data.set([Math.round(140 + 115 * v), Math.round(28 + 152 * v * v), 36, Math.round(190 * v)], i * 4);
    });
    context.putImageData(pixels, 0, 0);
  }, [grid]);
  return (
    <canvas
      ref={canvas}
      data-testid="heatmap"
      aria-label="Where the model looked"
      className="pointer-events-none absolute inset-0 h-full w-full"
      style={{ imageRendering: "auto", mixBlendMode: "screen" }}
    />
  );
}
