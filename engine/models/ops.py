"""Small building blocks shared by the click models (written from specs/ritm.md §3.1-3.2)."""
from __future__ import annotations

import torch
from torch import nn


class ScaleLayer(nn.Module):
    """Multiply the input by ``|scale * lr_mult|`` (one learnable scalar named ``scale``).

    The parameter is stored as ``init_value / lr_mult`` so that its effective value at
    construction is ``init_value``. Note the absolute value: a negative stored scale acts
    like a positive one.
    """

    def __init__(self, init_value: float = 1.0, lr_mult: float = 1.0):
        super().__init__()
        self.lr_mult = lr_mult
        self.scale = nn.Parameter(torch.full((1,), init_value / lr_mult, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.abs(self.scale * self.lr_mult)


def bn_relu(channels: int, norm_layer=nn.BatchNorm2d) -> nn.Sequential:
    """``Sequential(norm_layer(channels), ReLU)``; its BN lives at index ``0`` of the container."""
    return nn.Sequential(norm_layer(channels), nn.ReLU(inplace=True))


class DistMaps(nn.Module):
    """Encode clicks as two maps [positive, negative] on the grid of the input image.

    ``points`` is (B, 2N, 3): rows ``(y, x, order)``, the first N rows positive clicks and the
    last N negative ones; a row is unused iff ``max(y, x) < 0`` (padding is ``(-1, -1, -1)``).
    Coordinates are in pixels of the tensor given (pixel centres at integers) and may be
    fractional. For every pixel the squared distance to the nearest valid click of each
    polarity is taken (1e6 when there is none); then

    * ``use_disks=True``: 1.0 where ``d2 <= (norm_radius * spatial_scale) ** 2`` else 0.0;
    * ``use_disks=False``: offsets are first divided by ``norm_radius * spatial_scale`` and the
      map is ``tanh(2 * sqrt(d2))``.

    ``cpu_mode=True`` reproduces the official demo's Cython path (a BFS from each click):
    click centres are rounded half-to-even (Python ``round``) and a click counts iff its row
    is >= 0; then the same exact computation, which equals the BFS result for clicks in the
    grid. A click outside the grid only spreads if one of its 4 neighbours is in the grid;
    see ``_cython_stray_seeds`` for the rest.
    """

    def __init__(self, norm_radius: float, spatial_scale: float = 1.0, cpu_mode: bool = False,
                 use_disks: bool = False):
        super().__init__()
        self.norm_radius = norm_radius
        self.spatial_scale = spatial_scale
        self.cpu_mode = cpu_mode
        self.use_disks = use_disks

    def get_coord_features(self, points: torch.Tensor, batchsize: int, rows: int,
                           cols: int) -> torch.Tensor:
        num_points = points.shape[1] // 2
        device = points.device
        if num_points == 0:
            # No click at all: every distance is the 1e6 sentinel -> 0 (disks) / tanh(2000) = 1.
            fill = 0.0 if self.use_disks else 1.0
            return torch.full((batchsize, 2, rows, cols), fill, dtype=torch.float32, device=device)
        pts = points.reshape(-1, points.shape[2])[:, :2].to(torch.float32)
        if self.cpu_mode:
            pts = torch.round(pts)  # torch.round rounds half to even, like Python round
            y, x = pts[:, 0], pts[:, 1]
            taken = y >= 0
            inside = taken & (y < rows) & (x >= 0) & (x < cols)
            enters = taken & ~inside & (((y < rows) & ((x == -1) | (x == cols)))
                                        | ((y == rows) & (x >= 0) & (x < cols)))
            invalid = ~(inside | enters)
            stray = taken & ~inside
        else:
            invalid = torch.max(pts, dim=1)[0] < 0

        radius = self.norm_radius * self.spatial_scale
        ys = torch.arange(rows, dtype=torch.float32, device=device)
        xs = torch.arange(cols, dtype=torch.float32, device=device)
        dy = ys.view(1, rows, 1) - (pts[:, 0] * self.spatial_scale).view(-1, 1, 1)
        dx = xs.view(1, 1, cols) - (pts[:, 1] * self.spatial_scale).view(-1, 1, 1)
        if not self.use_disks:
            dy = dy / radius
            dx = dx / radius
        # A running minimum, one click at a time: the same float operations per pixel as
        # one (B*2N, rows, cols) tensor, without its memory (hundreds of MB on a large
        # image with many clicks).
        d2 = torch.full((batchsize * 2, rows, cols), 1e6, dtype=torch.float32, device=device)
        for index in torch.nonzero(~invalid).flatten().tolist():
            channel = d2[index // num_points]
            torch.minimum(channel, dy[index] * dy[index] + dx[index] * dx[index], out=channel)
        d2 = d2.view(batchsize, 2, rows, cols)

        if self.cpu_mode:
            d2 = self._cython_stray_seeds(d2, pts, stray, num_points, rows, cols)
        if self.use_disks:
            return (d2 <= radius ** 2).to(torch.float32)
        return torch.tanh(torch.sqrt(d2) * 2)

    @staticmethod
    def _cython_stray_seeds(d2: torch.Tensor, pts: torch.Tensor, stray: torch.Tensor,
                            num_points: int, rows: int, cols: int) -> torch.Tensor:
        """The demo's Cython maps for a rounded click outside the grid (e.g. a click outside
        the zoom-in crop): its seed distance 0 is written at the click's flat index
        ``(channel * rows + y) * cols + x`` of the per-image C array, i.e. on another pixel,
        and the BFS then starts from the click's own (outside) position, so it reaches the
        grid only from a neighbour inside it. Reproduced because the golden demo cases show
        both (RITM: a click right of the crop; f-BRS: a click left of it)."""
        flat = d2.reshape(d2.shape[0], -1)  # a view: channel-major, like the C array
        for index in torch.nonzero(stray).flatten().tolist():
            y, x = (int(v) for v in pts[index])
            image, row = divmod(index, 2 * num_points)
            offset = ((row // num_points) * rows + y) * cols + x
            if 0 <= offset < flat.shape[1]:
                flat[image, offset] = 0.0
        return d2

    def forward(self, x: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        return self.get_coord_features(coords, x.shape[0], x.shape[2], x.shape[3])
