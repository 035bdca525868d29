"""Target devices: what a design may use, and which synthesis flow stands for it.

Budgets are the vendors' published totals for each part (LUTs, flip-flops,
DSP slices, 36 kb block RAMs); ``clock_mhz`` is a reasonable default target
for fully pipelined fixed-point logic on that family, used to turn cycles
into nanoseconds when the user does not give a clock.  ``synth_device`` names
the :mod:`fpgaq.sim.synth` flow (Yosys ``synth_xilinx`` for 7-series or
UltraScale+, or generic LUT mapping) whose results the resource model was
calibrated against for that device.
"""

from __future__ import annotations

import dataclasses

from fpgaq.errors import SettingError

__all__ = ["DEVICES", "Device", "get_device"]


@dataclasses.dataclass(frozen=True)
class Device:
    name: str
    family: str
    lut_inputs: int
    luts: int | None
    ffs: int | None
    dsps: int | None
    brams: float | None
    clock_mhz: float
    synth_device: str
    description: str = ""
    timing: str = ""  # the delay model's flow (fpgaq.rtl.delay); empty: the synthesis flow's

    @property
    def timing_flow(self) -> str:
        return self.timing or self.synth_device

    def budget(self) -> dict[str, float | None]:
        return {"lut": self.luts, "ff": self.ffs, "dsp": self.dsps, "bram": self.brams}


DEVICES: dict[str, Device] = {
    d.name: d
    for d in (
        Device(
            "xcvu9p",
            "UltraScale+",
            6,
            1_182_240,
            2_364_480,
            6_840,
            2_160,
            200.0,
            "xcup",
            "Virtex UltraScale+ VU9P (the part of hls4ml's trigger studies)",
        ),
        Device("xc7a100t", "7-series", 6, 63_400, 126_800, 240, 135, 150.0, "xc7", "Artix-7 100T"),
        Device(
            "lfe5u-85f",
            "ECP5",
            4,
            83_640,
            83_640,
            156,
            104.0,
            100.0,
            "generic-lut4",
            "Lattice ECP5 LFE5U-85F (LUT/FF estimates from the generic 4-input-LUT calibration; timing from "
            "nextpnr-ecp5 place and route)",
            timing="ecp5",
        ),
        Device(
            "generic-lut4",
            "generic",
            4,
            None,
            None,
            0,
            None,
            100.0,
            "generic-lut4",
            "any 4-input-LUT fabric without DSPs (ASIC-like or iCE40-class); no budget",
        ),
    )
}

_ALIASES = {"vu9p": "xcvu9p", "a100t": "xc7a100t", "artix7": "xc7a100t", "lut4": "generic-lut4", "ecp5": "lfe5u-85f"}


def get_device(device: str | Device) -> Device:
    """A preset by name (or the Device itself); unknown names list the presets."""
    if isinstance(device, Device):
        return device
    name = _ALIASES.get(str(device).lower(), str(device).lower())
    if name not in DEVICES:
        raise SettingError(
            f"device {device!r} is not a known preset; choose one of {', '.join(DEVICES)} "
            "(or build a fpgaq.devices.Device with your part's budget)"
        )
    return DEVICES[name]
