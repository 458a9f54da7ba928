/** A Bloodborne-inspired palette as theme tokens: night, old blood, gaslamp gold, moonlight. */
export default {
  content: ["./index.html", "./src/**/*.{ts,tsx}"],
  theme: {
    extend: {
      colors: {
        abyss: "#0b0a0d",
        crypt: "#16131a",
        ash: "#2a2430",
        blood: "#8a1c24",
        ember: "#b8322c",
        gaslamp: "#d9b46c",
        moon: "#aab4c8",
        parchment: "#ece3d0",
      },
      fontFamily: {
        display: ["Cinzel", "Trajan Pro", "Palatino Linotype", "Palatino", "Book Antiqua", "Georgia", "serif"],
        body: ["Iowan Old Style", "Palatino Linotype", "Palatino", "Georgia", "serif"],
      },
    },
  },
};
