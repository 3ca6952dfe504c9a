// DuckToken: metadata, owner-only minting and ERC-2612 permit.
import t from "tap";
import { DUCK, call, deploy, ethers, expectRevert, latestTime } from "./fixtures.js";

const [owner, alice, bob] = await ethers.getSigners();
const duck = await deploy("DuckToken");

t.test("metadata", async (t) => {
  t.equal(await duck.name(), "Duck Token");
  t.equal(await duck.symbol(), "DUCK");
  t.equal(await duck.decimals(), 18n);
  t.equal(await duck.owner(), owner.address, "the deployer owns it");
});

t.test("only the owner mints", async (t) => {
  await call(duck, owner).mint(alice.address, 5n * DUCK);
  t.equal(await duck.balanceOf(alice.address), 5n * DUCK);
  t.equal(await duck.totalSupply(), 5n * DUCK);
  await expectRevert(t, call(duck, alice).mint(alice.address, 1n), duck, "OwnableUnauthorizedAccount", [alice.address]);
  t.equal(await duck.totalSupply(), 5n * DUCK, "supply unchanged");
});

t.test("permit sets an allowance from a signature", async (t) => {
  const deadline = (await latestTime()) + 3600n;
  const { chainId } = await ethers.provider.getNetwork();
  const nonce = await duck.nonces(alice.address);
  const signature = ethers.Signature.from(
    await alice.signTypedData(
      { name: "Duck Token", version: "1", chainId, verifyingContract: await duck.getAddress() },
      { Permit: [{ name: "owner", type: "address" }, { name: "spender", type: "address" }, { name: "value", type: "uint256" }, { name: "nonce", type: "uint256" }, { name: "deadline", type: "uint256" }] },
      { owner: alice.address, spender: bob.address, value: DUCK, nonce, deadline },
    ),
  );
  await call(duck, bob).permit(alice.address, bob.address, DUCK, deadline, signature.v, signature.r, signature.s);
  t.equal(await duck.allowance(alice.address, bob.address), DUCK);
  t.equal(await duck.nonces(alice.address), nonce + 1n);
});
