import { useCallback, useState } from "react";
import { ModelsProvider, useModels } from "./api/models";
import type { Classification, ShareCreated } from "./api/types";
import { AboutPanel } from "./components/AboutPanel";
import { DropZone } from "./components/DropZone";
import { HistoryPanel } from "./components/HistoryPanel";
import { RetiredLink, SharedResult } from "./components/SharedResult";
import { ShotCard } from "./components/ShotCard";
import { SyntheticNotice } from "./components/SyntheticNotice";
import { limitsOf, submitAll, type Submit } from "./lib/batches";
import { thumbnail, useHistory } from "./lib/history";
import { pageOf } from "./lib/share";
import type { SentFeedback } from "./lib/feedback";
import { checkFile } from "./lib/validate";

interface Queued {
  id: number;
  file: File;
  rejection: string | null;
  submit?: Submit;
}

let nextId = 0;

interface QueueProps {
  onResult: (result: Classification, file: File) => void;
  onShared: (result: Classification, share: ShareCreated) => void;
  onFeedback: (result: Classification, sent: SentFeedback) => void;
}

/** Dropped files become cards at once: the refused ones say why, the others travel in batches
 * (lib/batches). Each answer joins the history, and so do each share link made of one and each vote. */
function Queue({ onResult, onShared, onFeedback }: QueueProps) {
  const { view } = useModels();
  const [queue, setQueue] = useState<Queued[]>([]);
  const add = useCallback(
    (files: File[]) => {
      // Judged once, against the limit the stack announced (MAX_UPLOAD_BYTES).
      const judged = files.map((file) => ({ file, rejection: checkFile(file, view?.max_upload_bytes ?? null) }));
      const submits = submitAll(
        judged.filter((j) => !j.rejection).map((j) => j.file),
        limitsOf(view),
      );
      let next = 0;
      const cards = judged.map((j) => ({ id: nextId++, ...j, submit: j.rejection ? undefined : submits[next++] }));
      setQueue((q) => [...cards, ...q]);
    },
    [view],
  );
  return (
    <>
      <DropZone onFiles={add} />
      <section aria-label="Results" className="mt-8 grid gap-6 sm:grid-cols-2 lg:grid-cols-3">
        {queue.map(({ id, file, rejection, submit }) => (
          <ShotCard
            key={id}
            file={file}
            rejection={rejection}
            submit={submit}
            onResult={(result) => onResult(result, file)}
            onShared={onShared}
            onFeedback={onFeedback}
          />
        ))}
      </section>
    </>
  );
}

export default function App() {
  const [aboutOpen, setAboutOpen] = useState(false);
  const history = useHistory();
  const { remember, pictured, shared, voted } = history;
  const page = pageOf(window.location.pathname);
  // Remembered at once (a vote may follow before the thumbnail is drawn), the thumbnail once it is.
  const onResult = useCallback(
    (result: Classification, file: File) => {
      remember(result, null);
      void thumbnail(file).then((picture) => picture && pictured(result.sha256, picture));
    },
    [remember, pictured],
  );
  const onShared = useCallback((result: Classification, share: ShareCreated) => shared(result.sha256, share.id), [shared]);
  const onFeedback = useCallback((result: Classification, sent: SentFeedback) => voted(result.sha256, sent), [voted]);

  return (
    <ModelsProvider>
      <div className="mx-auto max-w-6xl px-4 py-8 sm:py-12">
        <header className="mb-8 flex flex-wrap items-end justify-between gap-4">
          <div>
            <h1 className="font-display text-4xl tracking-wide text-gaslamp sm:text-5xl">
              <a href="/">FromSoft Lens</a>
            </h1>
            <p className="mt-2 text-moon">Which FromSoftware game is this screenshot from?</p>
          </div>
          <button
            type="button"
            aria-expanded={aboutOpen}
            aria-controls="about"
            onClick={() => setAboutOpen((o) => !o)}
            className="rounded border border-ash px-3 py-1.5 text-sm text-moon hover:border-gaslamp hover:text-gaslamp"
          >
            About the model
          </button>
        </header>
        {aboutOpen && (
          <section id="about" className="mb-8 rounded-lg border border-ash bg-crypt/80 p-4">
            <AboutPanel />
          </section>
        )}
        {page.kind === "shared" && <SharedResult id={page.id} history={history.entries} onFeedback={voted} />}
        {page.kind === "retired" && <RetiredLink />}
        {page.kind === "home" && (
          <>
            <SyntheticNotice />
            <Queue onResult={onResult} onShared={onShared} onFeedback={onFeedback} />
          </>
        )}
        <HistoryPanel entries={history.entries} onClear={history.clear} />
        <footer className="mt-12 text-center text-xs text-ash">
          Bloodborne · Dark Souls · Dark Souls II · Dark Souls III · Demon's Souls · Elden Ring · Sekiro
        </footer>
      </div>
    </ModelsProvider>
  );
}
