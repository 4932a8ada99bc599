"""The pure flow engine and the flow language (see docs/FLOWS.md).

``engage.flow`` never does I/O except in ``loader`` (reading flow files) and
``areas.load_gazetteer``; the engine itself takes ``now`` from its caller.
"""

from engage.flow.engine import Step, resume, start, timeout
from engage.flow.loader import FlowError, Problem, flow_from_dict, load_flow, load_flows, parse_flow
from engage.flow.model import Flow

__all__ = [
    "Flow",
    "FlowError",
    "Problem",
    "Step",
    "flow_from_dict",
    "load_flow",
    "load_flows",
    "parse_flow",
    "resume",
    "start",
    "timeout",
]
