import { trainedOnSynthetic, useModels } from "../api/models";

/** Why a synthetic-trained model says "Not recognised": the notice and each such card use these words. */
export const SYNTHETIC_WHY =
  "This demo model learned from synthetic frames, not real screenshots, so it rarely recognises a real one.";

/** Shown above the drop zone, before anything is dropped, while the served model is the synthetic default. */
export function SyntheticNotice() {
  const { view } = useModels();
  if (!trainedOnSynthetic(view)) return null;
  return (
    <aside
      aria-label="About this demo model"
      data-testid="synthetic-notice"
      className="mb-6 rounded-lg border border-gaslamp/50 bg-gaslamp/10 p-4 text-sm text-moon"
    >
      <p className="font-semibold text-parchment">{SYNTHETIC_WHY}</p>
      <p className="mt-1">
        To recognise real screenshots, train it on the real data set (see “The real data set” in docs/training.md):{" "}
        <code className="text-gaslamp">DATA=data/kaggle RUN_DIR=runs/real make train-demo archive</code>
      </p>
    </aside>
  );
}
