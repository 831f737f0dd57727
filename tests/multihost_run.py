"""One process of a loopback multi-host training run (tests/test_multihost.py starts it).

  python tests/multihost_run.py PROCESSES PROCESS_ID PORT DEVICES DATA_DIR WORKDIR STEPS OUT

Simulates DEVICES CPU devices in this process; with PROCESSES > 1 it joins
a jax.distributed cluster whose coordinator listens on 127.0.0.1:PORT and
whose collectives run over gloo. Trains (or resumes) a tiny config to STEPS
steps in WORKDIR and saves the returned model's parameters and latents to OUT
(.npz, one array per leaf in tree order).
"""

import pathlib
import sys

import jax

processes, process_id, port, devices = (int(a) for a in sys.argv[1:5])
data_dir, workdir, steps, out = sys.argv[5], sys.argv[6], int(sys.argv[7]), sys.argv[8]
jax.config.update("jax_num_cpu_devices", devices)
jax.config.update("jax_cpu_collectives_implementation", "gloo")
if processes > 1:
  jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}",
                             coordinator_bind_address=f"127.0.0.1:{port}",
                             num_processes=processes, process_id=process_id,
                             initialization_timeout=120)

import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from tiny_configs import tiny  # noqa: E402
from inrv_jax import config_defaults, train  # noqa: E402

c = tiny(config_defaults.base_config(), pathlib.Path(data_dir))
c.train.batch_size = 8
c.train.num_steps = steps
c.train.log_every = 1
c.train.checkpoint_every = 2
c.train.pixel_fraction = 0.5
c.train.progress_bar = True  # process 0 only: the test checks the others print no bar
model = train.train_and_evaluate(c, workdir)
assert jax.process_count() == processes and jax.device_count() == processes * devices
np.savez(out, latents=model.latents,
         **{f"leaf{i}": np.asarray(x) for i, x in enumerate(jax.tree.leaves(model.params))})
