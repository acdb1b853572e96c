#!/usr/bin/env node
// Deploys the test tokens (build/TestUSDC.bin, build/TestUSDT.bin) to a
// development chain through JSON-RPC, from its first unlocked account, and
// prints `USDC=0x… USDT=0x…`. Node 18+ (global fetch); no packages.
//   node deploy.js http://127.0.0.1:8545
'use strict';
const fs = require('fs');
const path = require('path');

const rpcUrl = process.argv[2] || 'http://127.0.0.1:8545';
let id = 0;
async function rpc(method, params) {
  const res = await fetch(rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params }),
  });
  const body = await res.json();
  if (body.error) throw new Error(`${method}: ${JSON.stringify(body.error)}`);
  return body.result;
}

// ABI encoding of (string, string) for short ASCII strings.
function word(n) { return n.toString(16).padStart(64, '0'); }
function str(s) {
  const hex = Buffer.from(s, 'utf8').toString('hex');
  const padded = hex.padEnd(Math.ceil(hex.length / 64) * 64 || 64, '0');
  return word(s.length) + padded;
}
function ctorArgs(a, b) {
  const first = str(a);
  return word(64) + word(64 + first.length / 2) + first + str(b);
}

async function deploy(from, contract, name, symbol) {
  const bin = fs.readFileSync(path.join(__dirname, 'build', `${contract}.bin`), 'utf8').trim();
  const hash = await rpc('eth_sendTransaction', [{ from, data: '0x' + bin + ctorArgs(name, symbol), gas: '0x300000' }]);
  for (let i = 0; i < 100; i++) {
    const receipt = await rpc('eth_getTransactionReceipt', [hash]);
    if (receipt) {
      if (receipt.status !== '0x1') throw new Error(`${contract} deployment reverted`);
      return receipt.contractAddress;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${contract} deployment not mined`);
}

(async () => {
  const [from] = await rpc('eth_accounts', []);
  const usdc = await deploy(from, 'TestUSDC', 'Test USD Coin', 'USDC');
  const usdt = await deploy(from, 'TestUSDT', 'Test Tether USD', 'USDT');
  console.log(`USDC=${usdc} USDT=${usdt}`);
})().catch((e) => { console.error(`deploy: ${e.message}`); process.exit(1); });
