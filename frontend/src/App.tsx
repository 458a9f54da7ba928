import { useCallback, useState } from "react";
import { ModelsProvider } from "./api/models";
import { AboutPanel } from "./components/AboutPanel";
import { DropZone } from "./components/DropZone";
import { ShotCard } from "./components/ShotCard";
import { SyntheticNotice } from "./components/SyntheticNotice";

interface Queued {
  id: number;
  file: File;
}

let nextId = 0;

export default function App() {
  const [queue, setQueue] = useState<Queued[]>([]);
  const [aboutOpen, setAboutOpen] = useState(false);
  const add = useCallback((files: File[]) => {
    setQueue((q) => [...files.map((file) => ({ id: nextId++, file })), ...q]);
  }, []);

  return (
    <ModelsProvider>
      <div className="mx-auto max-w-6xl px-4 py-8 sm:py-12">
        <header className="mb-8 flex flex-wrap items-end justify-between gap-4">
          <div>
            <h1 className="font-display text-4xl tracking-wide text-gaslamp sm:text-5xl">FromSoft Lens</h1>
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
        <SyntheticNotice />
        <DropZone onFiles={add} />
        <section aria-label="Results" className="mt-8 grid gap-6 sm:grid-cols-2 lg:grid-cols-3">
          {queue.map(({ id, file }) => (
            <ShotCard key={id} file={file} />
          ))}
        </section>
        <footer className="mt-12 text-center text-xs text-ash">
          Bloodborne · Dark Souls · Dark Souls II · Dark Souls III · Demon's Souls · Elden Ring · Sekiro
        </footer>
      </div>
    </ModelsProvider>
  );
}
