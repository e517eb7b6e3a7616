r"""The page at / in a real headless browser (Debian's chromium and
chromium-driver, through selenium); skipped where they cannot be had.
With PYG_SRGNN_SCREENSHOT=path, the screenshot is also written there."""
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip('fastapi')
webdriver = pytest.importorskip('selenium.webdriver')
httpx = pytest.importorskip('httpx')

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from pyg_srgnn.config import FitConfig  # noqa: E402
from pyg_srgnn.recommend import Recommender  # noqa: E402
from pyg_srgnn.train import fit  # noqa: E402

BROWSER = shutil.which('chromium') or shutil.which('chromium-browser')
DRIVER = shutil.which('chromedriver')
pytestmark = pytest.mark.skipif(
    BROWSER is None or DRIVER is None,
    reason='no chromium with chromedriver (apt-get install chromium '
           'chromium-driver)')


@pytest.fixture
def server(tmp_path):
    fit(FitConfig.from_options(root=str(tmp_path / 'data'),
                               run_dir=str(tmp_path / 'run'), epochs=3,
                               progress=False, num_threads=1),
        log=lambda message: None)
    checkpoint = str(tmp_path / 'run' / 'checkpoint.pt')
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, '-m', 'pyg_srgnn', 'serve', '--checkpoint',
         checkpoint, '--port', str(port), '--threads', '1'],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f'http://127.0.0.1:{port}'
    for _ in range(300):
        try:
            if httpx.get(f'{url}/health').status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    yield url, Recommender.from_checkpoint(checkpoint)
    process.terminate()
    process.wait(timeout=30)


def test_page_in_a_headless_browser(server, tmp_path):
    url, recommender = server
    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for flag in ('--headless=new', '--no-sandbox', '--disable-gpu',
                 '--disable-dev-shm-usage', '--window-size=1200,900'):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(DRIVER),
                              options=options)
    try:
        driver.get(url + '/')
        wait = WebDriverWait(driver, 30)
        chips = wait.until(lambda d: d.find_elements(By.CLASS_NAME, 'chip'))
        assert len(chips) == 24
        first, second = chips[0].text, chips[3].text
        chips[0].click()
        chips[3].click()
        session = [first, second]
        # The page shows the server's top 10 and one weight per click.
        wait.until(lambda d: len(d.find_elements(
            By.CSS_SELECTOR, '#clicks tbody tr')) == 2)
        expected = recommender.recommend([session], k=10)[0]
        wait.until(lambda d: [row.find_elements(By.TAG_NAME, 'td')[1].text
                              for row in d.find_elements(
                                  By.CSS_SELECTOR, '#items tbody tr')]
                   == expected)
        clicks = [row.find_elements(By.TAG_NAME, 'td')[1].text for row in
                  driver.find_elements(By.CSS_SELECTOR, '#clicks tbody tr')]
        assert clicks == session
        # Typed ids with an unknown one: it is named.
        box = driver.find_element(By.ID, 'session')
        box.clear()
        box.send_keys(f'{first}, no-such-item\n')
        wait.until(expected_conditions.text_to_be_present_in_element(
            (By.ID, 'error'), 'Unknown to the model: no-such-item'))
        box.clear()
        box.send_keys(f'{first}, {second}\n')
        time.sleep(1)
        shot = tmp_path / 'page.png'
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10000
        if os.environ.get('PYG_SRGNN_SCREENSHOT'):
            shutil.copy(shot, os.environ['PYG_SRGNN_SCREENSHOT'])
    finally:
        driver.quit()
