// e2e tests start real nx processes and agents; jest 30 ignores a per-project testTimeout, so set it here.
jest.setTimeout(240_000);
