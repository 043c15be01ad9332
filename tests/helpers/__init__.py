"""What the tests share: the NXCloud doubles (``services.mocked_nxcloud``: HTTP intercepted with
responses; ``loopback.LoopbackNXCloud``: a real socket server; the ``nxcloud`` fixture of
``nxwa_onboarding.testing``: the sandbox's rules in memory), users, pages and admin helpers."""
