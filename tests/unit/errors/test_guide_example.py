"""The complete example of docs/problem-details.md, run and checked.

The code between the markers is the guide's ```python block without its last
line (`asyncio.run(main())`): pytest runs `main()` itself. The tests check that
it prints what the guide says it prints, and that the guide's code is still
this code.
"""

import ast
import re
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter
from pydantic import BaseModel, Field

from tiered.app import create_app
from tiered.errors import ConflictError, NotFoundError, problem_responses
from tiered.settings import AppSettings

# --- the guide's example (docs/problem-details.md) ---


class MarketClosedError(ConflictError):
    """Positions can only be bought on an active market."""

    code = "MARKET_CLOSED"
    title = "Market Closed"
    slug = "market-closed"
    description = "The market is not active, so it accepts no new positions."


class PositionIn(BaseModel):
    side: str = Field(pattern="^(yes|no)$")
    amount: int = Field(gt=0)


MARKETS = {"m1": "active", "m2": "closed"}
router = APIRouter()


@router.post("/markets/{market_id}/positions", status_code=201, responses=problem_responses(409))
async def buy_position(market_id: str, position: PositionIn) -> dict[str, str | int]:
    status = MARKETS.get(market_id)
    if status is None:
        raise NotFoundError(f"Market {market_id} does not exist.", code="MARKET_NOT_FOUND")
    if status != "active":
        raise MarketClosedError(
            f"Market {market_id} is {status}.", details={"market_status": status}
        )
    return {"market_id": market_id, "side": position.side, "amount": position.amount}


async def main() -> None:
    settings = AppSettings(
        environment="dev", database_url="sqlite+aiosqlite:///:memory:", log_level="WARNING"
    )
    app = create_app(settings, title="Guide", routers=[router])
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://guide") as client:
            good = {"side": "yes", "amount": 5}
            bought = await client.post("/markets/m1/positions", json=good)
            missing = await client.post("/markets/m9/positions", json=good)
            closed = await client.post("/markets/m2/positions", json=good)
            invalid = await client.post(
                "/markets/m1/positions", json={"side": "maybe", "amount": 0}
            )
            page = await client.get(closed.json()["type"])
    spec = app.openapi()

    print(bought.status_code, bought.json())
    for response in (missing, closed, invalid):
        problem = response.json()
        assert problem["status"] == response.status_code
        assert problem["request_id"] == response.headers["x-request-id"]
        print(response.status_code, response.headers["content-type"], problem["type"])
        print("  code:", problem["code"], "| detail:", problem["detail"])
    print("market_status:", closed.json()["market_status"])
    print("errors:", [(e["location"], e["pointer"]) for e in invalid.json()["errors"]])
    print("page:", page.status_code, "<h1>Market Closed</h1>" in page.text)
    operation = spec["paths"]["/markets/{market_id}/positions"]["post"]
    print("declared:", sorted(operation["responses"]))


# --- end of the guide's example ---

GUIDE = Path(__file__).resolve().parents[3] / "docs" / "problem-details.md"
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
PRINTED_BLOCK = re.compile(r"^It prints:\n\n```text\n(.*?)^```", re.DOTALL | re.MULTILINE)


def guide_text() -> str:
    return GUIDE.read_text(encoding="utf-8")


def guide_code() -> str:
    blocks = [
        block for block in PYTHON_BLOCK.findall(guide_text()) if "class MarketClosedError" in block
    ]
    assert len(blocks) == 1, "the guide has exactly one complete example"
    return blocks[0]


async def test_example_prints_what_the_guide_shows(capsys: pytest.CaptureFixture[str]) -> None:
    [expected] = PRINTED_BLOCK.findall(guide_text())
    capsys.readouterr()
    await main()
    assert capsys.readouterr().out == expected


async def test_example_output_in_detail(capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    await main()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "201 {'market_id': 'm1', 'side': 'yes', 'amount': 5}"
    assert "404 application/problem+json /problems/not-found" in lines
    assert "  code: MARKET_NOT_FOUND | detail: Market m9 does not exist." in lines
    assert "409 application/problem+json /problems/market-closed" in lines
    assert "errors: [('body', '/side'), ('body', '/amount')]" in lines
    assert "page: 200 True" in lines


def test_guide_code_is_this_code() -> None:
    guide = ast.parse(guide_code())
    here = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    here_statements = {ast.dump(node) for node in here.body}
    namespace: dict[str, object] = {}
    for node in guide.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            exec(compile(ast.Module([node], []), "guide", "exec"), namespace)
        elif ast.unparse(node) != "asyncio.run(main())":
            assert ast.dump(node) in here_statements, (
                f"differs from the guide:\n{ast.unparse(node)}"
            )
    assert ast.unparse(guide.body[-1]) == "asyncio.run(main())"
    for name, value in namespace.items():
        if name not in {"__builtins__", "asyncio"}:
            assert globals()[name] is value, f"{name} is imported from elsewhere than in the guide"
