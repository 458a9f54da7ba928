import { useEffect, useRef, useState } from "react";

/** Drop, pick or paste screenshots; operable by keyboard (Enter or Space opens the file picker). */
export function DropZone({ onFiles }: { onFiles: (files: File[]) => void }) {
  const input = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);

  useEffect(() => {
    const onPaste = (event: ClipboardEvent) => {
      const files = Array.from(event.clipboardData?.files ?? []);
      if (files.length) onFiles(files);
    };
    window.addEventListener("paste", onPaste);
    return () => window.removeEventListener("paste", onPaste);
  }, [onFiles]);

  return (
    <div
      role="button"
      tabIndex={0}
      aria-label="Add screenshots: drop them here, press Enter to pick files, or paste from the clipboard"
      onClick={() => input.current?.click()}
      onKeyDown={(event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          input.current?.click();
        }
      }}
      onDragOver={(event) => {
        event.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(event) => {
        event.preventDefault();
        setOver(false);
        onFiles(Array.from(event.dataTransfer.files));
      }}
      className={`cursor-pointer rounded-xl border-2 border-dashed p-10 text-center transition ${
        over ? "border-gaslamp bg-gaslamp/5" : "border-ash hover:border-blood"
      }`}
    >
      <p className="font-display text-2xl text-parchment">Offer a screenshot</p>
      <p className="mt-2 text-moon">Drop images here, click to choose, or paste (Ctrl+V). JPEG, PNG or WebP, up to 5 MB.</p>
      <input
        ref={input}
        type="file"
        accept="image/jpeg,image/png,image/webp"
        multiple
        hidden
        data-testid="file-input"
        onChange={(event) => {
          onFiles(Array.from(event.target.files ?? []));
          event.target.value = "";
        }}
      />
    </div>
  );
}
