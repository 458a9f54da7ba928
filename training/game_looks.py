"""How each game looks, as the synthetic frames draw it (training.synthesize renders them): its palette
and light, the silhouettes on its horizon and its HUD, plus the real data set's folder names and class
sizes that the synthetic set copies. Tuning a game's look is an edit here alone."""

from __future__ import annotations

from dataclasses import dataclass

# Kaggle folder names, in LABELS order.
KAGGLE_FOLDERS: dict[str, str] = {
    "bloodborne": "bloodborne",
    "dark_souls": "dark souls",
    "dark_souls_2": "dark souls 2",
    "dark_souls_3": "dark souls 3",
    "demons_souls": "demons souls",
    "elden_ring": "elden ring",
    "sekiro": "sekiro",
}

# Training-split image counts of the real data set: the synthetic classes keep these proportions.
REAL_COUNTS: dict[str, int] = {
    "bloodborne": 14673,
    "dark_souls": 19374,
    "dark_souls_2": 22851,
    "dark_souls_3": 8809,
    "demons_souls": 9783,
    "elden_ring": 16147,
    "sekiro": 21111,
}

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class GameStyle:
    sky_top: RGB
    sky_horizon: RGB
    ground_near: RGB
    ground_far: RGB
    fog: RGB
    light: RGB  # colour of the sun, moon or glow
    accent: RGB  # blood, embers, gold, leaves...
    structures: str  # silhouette family drawn on the horizon
    hud: str  # HUD layout family
    fog_density: float
    light_height: float  # 0 = top of the frame, 1 = horizon


STYLES: dict[str, GameStyle] = {
    # Victorian gothic at night: blue-black sky, pale moon, spires, blood.
    "bloodborne": GameStyle(
        (12, 16, 34),
        (58, 66, 96),
        (34, 30, 34),
        (70, 72, 92),
        (88, 96, 122),
        (226, 230, 240),
        (140, 12, 18),
        "spires",
        "souls_bars_short",
        0.35,
        0.25,
    ),
    # Muted browns and greens, castle walls, a dull overcast sky.
    "dark_souls": GameStyle(
        (96, 104, 98),
        (150, 146, 120),
        (62, 56, 40),
        (110, 108, 84),
        (140, 136, 112),
        (220, 210, 170),
        (170, 120, 60),
        "castle",
        "souls_bars_long",
        0.30,
        0.45,
    ),
    # Saturated sunlight and teal sea, bright stone.
    "dark_souls_2": GameStyle(
        (60, 130, 170),
        (190, 210, 200),
        (104, 96, 70),
        (90, 150, 150),
        (170, 200, 200),
        (255, 240, 190),
        (230, 190, 90),
        "towers",
        "ds2_bars",
        0.20,
        0.20,
    ),
    # Ashen grey world with ember orange light.
    "dark_souls_3": GameStyle(
        (78, 76, 74),
        (170, 150, 120),
        (50, 46, 44),
        (100, 94, 90),
        (150, 140, 128),
        (255, 170, 80),
        (230, 110, 30),
        "ruins",
        "souls_bars_ds3",
        0.45,
        0.75,
    ),
    # Desaturated fog, grey-green, heavy atmosphere.
    "demons_souls": GameStyle(
        (70, 78, 74),
        (120, 130, 122),
        (44, 50, 46),
        (90, 98, 92),
        (130, 140, 132),
        (190, 200, 190),
        (120, 150, 110),
        "castle",
        "des_bars",
        0.60,
        0.35,
    ),
    # Golden Erdtree light and a wide sky.
    "elden_ring": GameStyle(
        (70, 110, 160),
        (220, 200, 150),
        (70, 80, 50),
        (140, 140, 100),
        (210, 196, 150),
        (255, 214, 110),
        (240, 190, 60),
        "erdtree",
        "er_bars",
        0.25,
        0.55,
    ),
    # Autumn reds and greens, Japanese roofs.
    "sekiro": GameStyle(
        (120, 140, 150),
        (210, 190, 160),
        (60, 64, 40),
        (120, 100, 70),
        (190, 176, 150),
        (250, 230, 200),
        (190, 50, 30),
        "pagoda",
        "sekiro",
        0.30,
        0.40,
    ),
}
