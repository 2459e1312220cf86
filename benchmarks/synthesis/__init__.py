"""The tool-synthesis benchmark: ToolCraft-shaped tasks, synthesis on and off (``make bench-synthesis``)."""
