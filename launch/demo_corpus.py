"""The project's embedded default raw corpus: a deterministic, offline generator.

    python -m launch.demo_corpus --output_dir DIR [--size_mb 8] [--seed 0]

Everything is built from material every machine with the project installed already has: the
Python standard library's own files (found with ``sysconfig.get_paths()["stdlib"]``; nothing
from site-packages, whose contents differ between environments). Prose comes from module, class
and function docstrings read with ``ast`` (no module is imported), from the help topics in
``pydoc_data/topics.py`` and from the text files the stdlib ships (LICENSE, README, ``*.txt``,
``*.rst``, IDLE's ``help.html``); code comes from the stdlib's ``.py`` files. Documents are made by
sampling and recombining sentences with a seeded RNG, so a large corpus is not made of copies.

Layout of DIR (one folder per source, one source per PaLM role plus a WET one):

    conversations/conversations-NNNNN.jsonl.gz  conversations: JSON Lines, gzip; id, text, url
    webpages/webpages-NNNNN.warc.gz             webpages: WARC responses holding HTML pages
    wet/web_wet-NNNNN.warc.wet.gz               webpages: Common Crawl-style WET (conversion)
    books/NNNN-title.txt                        books: one long plain-text book per file
    code/<stdlib path>.py                       code: a sample of stdlib modules + planted files
    wikipedia/wikipedia-NNNNN.parquet           wikipedia: Parquet; id, title, text, url
    news/YYYY-MM.jsonl, news/YYYY-MM.jsonl.zst  news: JSON Lines, plain and zstd; id, text, url,
                                                date
    eval_sets/demo_eval.jsonl  an evaluation set for decontamination: some texts share a
                        16-word span with one document of the corpus, the rest are unrelated
    sources.yaml        the prep spec for this corpus (pipeline/spec.py format), with the
                        quality classifier and decontamination switched on
    ground_truth.json   every planted item: duplicates, near-duplicates, boilerplate, junk,
                        non-English, PII, mojibake, control characters, malformed records,
                        and which documents the evaluation set contaminates
    corpus.json         summary: files, documents and bytes per source, seed, size, planted counts

Document locations (and so ids, ``pipeline.document.document_id(source, location)``) follow the
readers' conventions: JSONL and Parquet sources use the record's ``id`` field; text and code
folders the file path relative to the source folder; WARC and WET the WARC-Record-ID header.

Determinism: the same seed, size and Python installation give byte-identical output (no wall
clock, no hash-order dependence, gzip headers with mtime 0, seeded WARC record ids and dates).
``size_mb`` is the approximate total raw size in units of 10^6 bytes, counted as the documents'
uncompressed bytes (JSONL/Parquet text fields, HTML payloads, WET payloads, file contents).
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import dataclasses
import datetime as dt
import difflib
import functools
import gc
import gzip
import html
import io
import json
import math
import multiprocessing
import os
import platform
import random
import re
import shutil
import sys
import sysconfig
import time
import unicodedata
import uuid
import zlib
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from pipeline.document import document_id

GENERATOR_VERSION = 1
# The name every corpus records as its generator (WARC warcinfo records, corpus.json,
# ground_truth.json). It is the module's first home, kept when the module moved from pipeline/
# to launch/: a WET record's byte offset is part of its document id, so renaming it here would
# change every id, and with them the prep, tokenizer and cache outputs of the same seed.
GENERATOR_NAME = "pipeline.demo_corpus"
MB = 1_000_000

# name, role, format, folder. Shares are of the raw (uncompressed) bytes; they roughly follow
# PaLM's mixture but give every format enough documents to exercise a reader.
SOURCES: tuple[tuple[str, str, str, str], ...] = (
    ("conversations", "conversations", "jsonl", "conversations"),
    ("webpages", "webpages", "warc", "webpages"),
    ("web_wet", "webpages", "wet", "wet"),
    ("books", "books", "text_dir", "books"),
    ("code", "code", "code_dir", "code"),
    ("wikipedia", "wikipedia", "parquet", "wikipedia"),
    ("news", "news", "jsonl", "news"),
)
SHARES = {
    "conversations": 0.30, "webpages": 0.24, "web_wet": 0.04, "books": 0.14, "code": 0.10,
    "wikipedia": 0.10, "news": 0.08,
}
# Below these, planting a few items per category would leave no ordinary documents.
MIN_DOCS = {
    "conversations": 40, "webpages": 20, "web_wet": 12, "books": 6, "code": 10,
    "wikipedia": 15, "news": 20,
}
MAX_CODE_FILE_BYTES = 150_000
BASE_TIME = dt.datetime(2026, 1, 5, 8, 0, 0)
WEB_HTML_OVERHEAD = 900  # bytes of boilerplate markup around an article, for the size budget

EVAL_FOLDER = "eval_sets"
EVAL_SET = "demo_eval"
EVAL_FILE = f"{EVAL_FOLDER}/{EVAL_SET}.jsonl"
# Sources whose documents the evaluation set copies from: curated ones that the quality
# classifier does not filter, so every planted contamination reaches decontamination.
EVAL_COPY_FROM = ("books", "wikipedia", "conversations")
EVAL_CONTAMINATED = 12
EVAL_UNRELATED = 24
EVAL_SPAN_WORDS = 16   # >= 13 (the n-gram decontamination matches by default)
OUTPUT_FOLDERS = tuple(folder for _, _, _, folder in SOURCES) + (EVAL_FOLDER,)
OUTPUT_FILES = ("sources.yaml", "ground_truth.json", "corpus.json")

# ---------------------------------------------------------------------------------------------
# Hand-written material (all original to this project).

# 20 sentences per language; a non-English document takes 5 of them, so each language yields 4
# documents that share no sentence (they must not look like near-duplicates of each other).
FOREIGN: dict[str, tuple[str, ...]] = {
    "de": (
        "Am Montagmorgen war der Bahnhof voller Menschen, die auf den verspäteten Zug warteten.",
        "Meine Großmutter backt jeden Sonntag einen Apfelkuchen nach einem alten Familienrezept.",
        "Die Stadtbibliothek hat ihre Öffnungszeiten verlängert, damit Studierende abends lernen können.",
        "Wer früh aufsteht, hat mehr Zeit für einen ruhigen Spaziergang am Fluss.",
        "Der neue Radweg verbindet die beiden Dörfer und ist besonders bei Familien beliebt.",
        "Im Herbst sammeln die Kinder bunte Blätter und kleben sie in ein Heft.",
        "Das Programm stürzte ab, weil die Konfigurationsdatei einen Tippfehler enthielt.",
        "Nach dem Regen roch die Luft im Wald nach Moos und nasser Erde.",
        "Unser Nachbar repariert alte Fahrräder und verschenkt sie an Schüler aus der Gegend.",
        "Die Ausstellung zeigt Fotografien aus den ersten Jahren der Luftfahrt.",
        "Bitte schließen Sie das Fenster, bevor Sie das Büro am Abend verlassen.",
        "Auf dem Wochenmarkt gibt es frisches Gemüse, Käse aus der Region und warmes Brot.",
        "Der Vortrag über erneuerbare Energien war so gut besucht, dass einige Gäste stehen mussten.",
        "Ich habe gestern endlich das Buch zu Ende gelesen, das mir meine Schwester empfohlen hatte.",
        "Die Mannschaft trainiert dreimal pro Woche auf dem Sportplatz hinter der Schule.",
        "Wegen der Bauarbeiten fährt der Bus in dieser Woche eine andere Strecke.",
        "Viele Menschen unterschätzen, wie viel Wasser eine Pflanze im Sommer braucht.",
        "Der Kaffee in dieser kleinen Bäckerei ist stark, aber erstaunlich mild im Geschmack.",
        "In der Nacht fiel der erste Schnee, und am Morgen war alles still und weiß.",
        "Die Gemeinde plant, den alten Bahnhof in ein Kulturzentrum umzubauen.",
    ),
    "fr": (
        "Le marché du samedi attire des habitants de tous les villages voisins.",
        "Ma voisine arrose ses tomates chaque soir, même lorsqu'il a plu pendant la journée.",
        "La bibliothèque municipale prête désormais des outils de jardinage en plus des livres.",
        "Nous avons pris le train de nuit pour arriver à la mer avant le lever du soleil.",
        "Le logiciel refuse de démarrer tant que la mise à jour n'est pas terminée.",
        "Les enfants ont construit une cabane au fond du jardin avec de vieilles planches.",
        "Il faut laisser reposer la pâte pendant une heure avant de la mettre au four.",
        "Le musée propose une visite gratuite le premier dimanche de chaque mois.",
        "Après la réunion, tout le monde est resté pour discuter autour d'un café.",
        "La route de montagne est fermée en hiver à cause des chutes de neige.",
        "Mon frère apprend le violon depuis trois ans et joue maintenant dans un petit orchestre.",
        "Les nouvelles pistes cyclables ont changé la façon dont les gens se déplacent en ville.",
        "Le boulanger ouvre sa boutique à six heures, et il y a déjà une file devant la porte.",
        "Cette rivière était autrefois polluée, mais les poissons y sont revenus depuis peu.",
        "J'ai oublié mon parapluie dans le bus, et bien sûr il s'est mis à pleuvoir.",
        "Les étudiants préparent une exposition sur l'histoire de leur quartier.",
        "Le vent soufflait si fort que les volets claquaient toute la nuit.",
        "Nous cherchons des bénévoles pour aider à ranger la salle après la fête.",
        "Le médecin conseille de marcher au moins trente minutes par jour.",
        "Une vieille horloge sonne encore midi sur la place de l'église.",
    ),
    "es": (
        "Cada mañana, el panadero del barrio saluda a todos los vecinos por su nombre.",
        "La biblioteca del pueblo organiza talleres de lectura para niños los sábados.",
        "Perdimos el último autobús y tuvimos que volver caminando bajo la lluvia.",
        "Mi abuela guarda las recetas de la familia en un cuaderno lleno de manchas de aceite.",
        "El nuevo parque junto al río se llena de gente cuando baja el calor.",
        "Antes de instalar el programa, conviene hacer una copia de seguridad de los archivos.",
        "Los estudiantes presentaron un proyecto sobre el ahorro de agua en las casas.",
        "En verano, las calles del centro se cubren con toldos para dar sombra.",
        "Mi hermana aprendió a tocar la guitarra viendo vídeos por las noches.",
        "El mercado cierra temprano los domingos, así que conviene ir antes del mediodía.",
        "Las montañas estaban cubiertas de nieve aunque ya era casi primavera.",
        "El equipo de fútbol del colegio ganó su primer partido de la temporada.",
        "Nadie sabía quién había dejado un ramo de flores en la puerta de la escuela.",
        "La conexión a internet falla cada vez que alguien usa el microondas.",
        "Durante las fiestas, la plaza se llena de música, puestos de comida y fuegos artificiales.",
        "El museo de ciencias abrió una sala dedicada a los volcanes.",
        "Prefiero viajar en tren porque puedo leer y mirar el paisaje al mismo tiempo.",
        "El ayuntamiento plantará cien árboles nuevos en las avenidas principales.",
        "Después de la tormenta, los vecinos ayudaron a limpiar las ramas caídas.",
        "Esta receta de sopa es sencilla, barata y perfecta para los días fríos.",
    ),
    "it": (
        "Ogni domenica mattina la piazza si riempie di bancarelle di frutta e verdura.",
        "Mio nonno racconta sempre la stessa storia sul suo primo viaggio in nave.",
        "La biblioteca comunale resterà chiusa per lavori fino alla fine del mese.",
        "Abbiamo perso il treno per due minuti e abbiamo aspettato un'ora in stazione.",
        "Il nuovo programma funziona bene, ma consuma troppa memoria sui computer vecchi.",
        "In estate le strade del paese profumano di basilico e di pane appena sfornato.",
        "I bambini hanno dipinto un grande murale sulla parete della palestra.",
        "Prima di uscire, ricordati di spegnere le luci e di chiudere la finestra.",
        "La squadra di pallavolo si allena tre sere alla settimana nel palazzetto.",
        "Dopo la pioggia, il sentiero nel bosco era pieno di fango e di foglie.",
        "Il museo offre visite guidate anche nella lingua dei segni.",
        "Mia sorella ha aperto una piccola libreria vicino all'università.",
        "Il vento del nord ha portato un freddo improvviso in tutta la valle.",
        "Gli studenti hanno organizzato una raccolta di libri per la scuola del quartiere.",
        "La ricetta della nonna richiede pazienza, farina buona e molto olio d'oliva.",
        "Il comune ha deciso di rendere pedonale la strada principale nei fine settimana.",
        "Ho dimenticato la password e ho dovuto chiamare l'assistenza tecnica.",
        "Sul lago, al tramonto, le barche dei pescatori tornano lentamente al porto.",
        "Il concerto all'aperto è stato rimandato a causa del temporale.",
        "Molti turisti non sanno che il castello si può visitare anche di sera.",
    ),
    "pt": (
        "Todas as manhãs, o padeiro da esquina separa um pão quente para a minha avó.",
        "A biblioteca do bairro vai abrir uma sala de estudo silenciosa no segundo andar.",
        "Perdemos o último barco e tivemos de passar a noite numa pensão perto do cais.",
        "O novo aplicativo ajuda os moradores a encontrar horários de ônibus em tempo real.",
        "Depois da chuva, o cheiro da terra molhada tomou conta do quintal.",
        "Meu irmão está aprendendo a cozinhar e já sabe fazer um arroz muito bom.",
        "A feira de sábado tem frutas frescas, queijos da serra e flores baratas.",
        "Os alunos plantaram árvores no pátio da escola durante a semana do meio ambiente.",
        "O programa travou porque o disco estava quase cheio.",
        "No inverno, a praia fica vazia e as gaivotas dominam a areia.",
        "A prefeitura prometeu consertar as calçadas da rua principal até o fim do ano.",
        "Minha vizinha toca piano todas as tardes, e eu gosto de ouvir da varanda.",
        "O museu de história natural recebeu um esqueleto de baleia restaurado.",
        "Antes de viajar, é importante verificar a validade do passaporte.",
        "O time da cidade venceu o campeonato regional depois de muitos anos.",
        "As crianças passaram a tarde inteira construindo castelos de areia.",
        "O café desta pastelaria é forte, mas os bolos são a verdadeira atração.",
        "Um grupo de voluntários limpa o rio todos os meses.",
        "A estrada da serra tem curvas perigosas e uma vista incrível.",
        "Ela escreveu uma carta à mão para agradecer a ajuda dos amigos.",
    ),
    "nl": (
        "Op zaterdag staat de markt vol met kramen met kaas, vis en verse bloemen.",
        "Mijn buurman fietst elke dag twintig kilometer naar zijn werk, ook als het regent.",
        "De bibliotheek in ons dorp organiseert elke week een voorleesuurtje voor kinderen.",
        "We hebben de laatste trein gemist en moesten op het station overnachten.",
        "Het nieuwe programma werkt pas nadat je de computer opnieuw hebt opgestart.",
        "In de herfst waait het zo hard dat de bladeren door de straten dwarrelen.",
        "Mijn oma bakt appeltaart volgens een recept dat al generaties in de familie is.",
        "De gemeente wil meer bomen planten in de nieuwe woonwijk.",
        "Na de storm hielpen de bewoners elkaar met het opruimen van takken.",
        "Het museum heeft een tentoonstelling over de geschiedenis van de scheepvaart.",
        "De leerlingen maakten een film over het leven in hun buurt.",
        "Vergeet niet de verwarming lager te zetten voordat je op vakantie gaat.",
        "Het café aan de gracht serveert de lekkerste soep van de stad.",
        "Het voetbalteam van de school heeft eindelijk een wedstrijd gewonnen.",
        "In de winter schaatsen veel mensen op het bevroren meer.",
        "De bus rijdt deze week een andere route vanwege werkzaamheden aan de brug.",
        "Mijn zus leert Spaans omdat ze volgend jaar in Madrid gaat studeren.",
        "De bakker begint om vier uur 's nachts met het maken van brood.",
        "Tijdens het festival speelden er bands op drie verschillende podia.",
        "Het duurde een uur voordat de monteur de kapotte lift had gerepareerd.",
    ),
    "ru": (
        "Каждое утро соседка выгуливает свою собаку в парке у реки.",
        "Городская библиотека теперь открыта до десяти часов вечера.",
        "Мы опоздали на последний автобус и пошли домой пешком.",
        "Бабушка печёт пироги с капустой по старому семейному рецепту.",
        "После дождя в лесу пахнет мхом и влажной землёй.",
        "Новая программа работает быстрее, но требует больше памяти.",
        "Дети построили во дворе снежную крепость и играли до темноты.",
        "На рынке по субботам продают свежие овощи, мёд и домашний сыр.",
        "Мой брат учится играть на гитаре и уже знает несколько песен.",
        "Музей открыл выставку старых фотографий нашего города.",
        "Зимой озеро замерзает, и многие жители катаются на коньках.",
        "Перед поездкой обязательно проверьте расписание поездов.",
        "Студенты подготовили доклад о том, как экономить воду дома.",
        "В этом маленьком кафе подают очень вкусный чай с лимоном.",
        "Из-за ремонта моста автобус ходит по другому маршруту.",
        "Осенью в парке много жёлтых и красных листьев.",
        "Школьная команда впервые выиграла городской турнир по футболу.",
        "Мы пригласили друзей на ужин и приготовили большую кастрюлю супа.",
        "Ветер был таким сильным, что окна дрожали всю ночь.",
        "Врач советует гулять на свежем воздухе не меньше часа в день.",
    ),
    "zh": (
        "每天早上，楼下的面包店都会排起长队。",
        "市图书馆最近延长了开放时间，方便学生晚上学习。",
        "我们错过了最后一班公交车，只好走路回家。",
        "奶奶每逢周末都会包饺子，全家人一起吃饭。",
        "下过雨以后，山里的空气特别清新。",
        "这个新软件运行很快，但是占用的内存太多。",
        "孩子们在院子里种了几棵小树，每天都去浇水。",
        "周六的集市上有新鲜的蔬菜、水果和手工豆腐。",
        "我的弟弟正在学习弹钢琴，已经会弹几首简单的曲子。",
        "博物馆正在举办一个关于古代丝绸的展览。",
        "冬天湖面结冰以后，很多人来这里滑冰。",
        "出发之前，请先检查一下火车的时刻表。",
        "学生们做了一个关于节约用水的调查报告。",
        "这家小茶馆的绿茶味道清香，价格也很便宜。",
        "因为桥梁维修，这周公交车改走另一条路线。",
        "秋天的时候，公园里到处都是金黄的树叶。",
        "学校的篮球队第一次赢得了全市比赛的冠军。",
        "我们邀请朋友来家里吃晚饭，做了一大锅汤。",
        "昨晚的风很大，窗户响了一整夜。",
        "医生建议每天至少散步半个小时。",
    ),
    "ja": (
        "毎朝、駅前のパン屋には長い行列ができます。",
        "市立図書館は、学生のために夜十時まで開館することになりました。",
        "最終バスに乗り遅れたので、家まで歩いて帰りました。",
        "祖母は毎年、庭でとれた梅で梅干しを作っています。",
        "雨が上がると、森の中は土と草のにおいでいっぱいになります。",
        "新しいソフトは速いですが、古いパソコンでは動きが重くなります。",
        "子どもたちは公園で落ち葉を集めて、大きな山を作りました。",
        "土曜日の朝市では、新鮮な野菜や手作りのお菓子が売られています。",
        "弟はギターを習い始めて、もう三曲ひけるようになりました。",
        "博物館で、昔の町の写真を集めた展示が始まりました。",
        "冬になると、湖が凍ってスケートを楽しむ人が増えます。",
        "旅行の前に、電車の時刻表を必ず確認してください。",
        "学生たちは、家庭で水を節約する方法について発表しました。",
        "この小さな喫茶店のコーヒーは、香りがとても豊かです。",
        "橋の工事のため、今週はバスの経路が変わります。",
        "秋の公園は、赤や黄色の葉でとてもきれいです。",
        "学校のサッカー部が、初めて市の大会で優勝しました。",
        "友だちを夕食に招いて、大きな鍋でスープを作りました。",
        "昨夜は風が強くて、窓が一晩中がたがた鳴っていました。",
        "医者は、一日に三十分以上歩くことをすすめています。",
    ),
    "ar": (
        "في كل صباح يقف الناس في طابور طويل أمام المخبز القريب من المحطة.",
        "قررت مكتبة المدينة أن تبقى مفتوحة حتى العاشرة مساء لمساعدة الطلاب.",
        "فاتتنا آخر حافلة فعدنا إلى البيت مشيا على الأقدام.",
        "تطبخ جدتي الأرز باللحم يوم الجمعة وتدعو العائلة كلها.",
        "بعد المطر تصبح رائحة الحديقة منعشة وجميلة.",
        "البرنامج الجديد سريع لكنه يستهلك الكثير من الذاكرة.",
        "زرع الأطفال أشجارا صغيرة في ساحة المدرسة.",
        "في سوق السبت تباع الخضروات الطازجة والعسل والجبن.",
        "يتعلم أخي العزف على العود منذ سنتين.",
        "افتتح المتحف معرضا لصور قديمة عن تاريخ المدينة.",
        "قبل السفر يجب التأكد من مواعيد القطارات.",
        "أعد الطلاب بحثا عن طرق توفير الماء في المنزل.",
        "القهوة في هذا المقهى الصغير قوية ولذيذة.",
        "بسبب إصلاح الجسر تغير مسار الحافلة هذا الأسبوع.",
        "في الخريف تتساقط الأوراق الصفراء في الحديقة العامة.",
        "فاز فريق المدرسة بالبطولة لأول مرة منذ سنوات.",
        "دعونا أصدقاءنا إلى العشاء وطبخنا قدرا كبيرا من الحساء.",
        "كانت الرياح قوية جدا فاهتزت النوافذ طوال الليل.",
        "ينصح الطبيب بالمشي نصف ساعة على الأقل كل يوم.",
        "تخطط البلدية لتحويل المبنى القديم إلى مركز ثقافي.",
    ),
    "hi": (
        "हर सुबह स्टेशन के पास वाली बेकरी के सामने लंबी लाइन लगती है।",
        "शहर का पुस्तकालय अब छात्रों के लिए रात दस बजे तक खुला रहता है।",
        "हमारी आखिरी बस छूट गई, इसलिए हम पैदल घर लौटे।",
        "दादी हर रविवार को पूरे परिवार के लिए आलू के पराठे बनाती हैं।",
        "बारिश के बाद बगीचे में मिट्टी की खुशबू फैल जाती है।",
        "नया सॉफ्टवेयर तेज़ है, लेकिन पुराने कंप्यूटर पर धीमा चलता है।",
        "बच्चों ने स्कूल के आंगन में कुछ छोटे पेड़ लगाए।",
        "शनिवार के बाज़ार में ताज़ी सब्ज़ियाँ, फल और शहद मिलते हैं।",
        "मेरा भाई दो साल से सितार बजाना सीख रहा है।",
        "संग्रहालय में शहर की पुरानी तस्वीरों की प्रदर्शनी शुरू हुई है।",
        "यात्रा से पहले ट्रेन का समय ज़रूर जाँच लें।",
        "छात्रों ने घर में पानी बचाने के तरीकों पर एक रिपोर्ट तैयार की।",
        "इस छोटे से चायघर की अदरक वाली चाय बहुत मशहूर है।",
        "पुल की मरम्मत के कारण इस हफ्ते बस दूसरे रास्ते से जा रही है।",
        "सर्दियों में पहाड़ों पर बर्फ गिरती है और सड़कें बंद हो जाती हैं।",
        "स्कूल की क्रिकेट टीम ने पहली बार ज़िला प्रतियोगिता जीती।",
        "हमने दोस्तों को रात के खाने पर बुलाया और दाल-चावल बनाए।",
        "कल रात हवा इतनी तेज़ थी कि खिड़कियाँ पूरी रात खड़खड़ाती रहीं।",
        "डॉक्टर रोज़ कम से कम आधा घंटा टहलने की सलाह देते हैं।",
        "नगर निगम पुराने भवन को एक सांस्कृतिक केंद्र में बदलने की योजना बना रहा है।",
    ),
}
FOREIGN_SENTENCES_PER_DOC = 5
# Which sources get non-English documents; each language goes to four of them (rotating).
FOREIGN_TARGETS = ("conversations", "webpages", "wikipedia", "news", "web_wet")

# English sentences with non-ASCII letters: written mis-decoded (UTF-8 bytes read as cp1252)
# they become mojibake such as "cafÃ©". None contains a character whose UTF-8 bytes hit the
# five bytes cp1252 leaves undefined, so the mojibake holds no C1 control characters.
MOJIBAKE_SOURCES = (
    "We met at the café on the corner before the rehearsal started.",
    "Her résumé listed three years as a sous-chef in a small bistro near the harbour.",
    "The naïve plan assumed the old façade would survive another winter.",
    "He ordered a crème brûlée and a jalapeño omelette for the whole table.",
    "The delegation from Zürich reached the Göteborg conference on Tuesday.",
    "A smörgåsbord of options was presented at the soirée after the talk.",
    "The piñata at the fiancée's party was the highlight of the evening.",
    "The build was green at last – ‘it finally works’, she said with a grin.",
    "Our señor of the archive keeps the Ångström tables next to the encyclopédie.",
    "The coöperative ran a déjà vu themed quiz night in the old crêperie.",
)
CONTROL_SEQUENCES = ("\x00", "\x07", "\x08", "\x0b", "\x0c", "\x1b[0m", "\x1b[2K", "\x7f")

PII_TEMPLATES = (
    ("email", "If you have questions, email me at {email} and I will reply within a day."),
    ("ipv4", "The staging server at {ipv4} was rebooted twice this week."),
    ("phone", "For urgent issues call {phone} during office hours."),
    ("ipv6", "Our new gateway is reachable at {ipv6} from the internal network."),
    ("email+phone", "You can also reach the organiser at {email} or by phone at {phone}."),
    ("ipv4", "Requests from {ipv4} kept failing until the firewall rule was fixed."),
    ("email", "Send the signed form to {email} before Friday."),
)
FIRST_NAMES = ("alice", "bruno", "chen", "dana", "elif", "farid", "grace", "hiro", "ines",
               "jonas", "kavya", "liam", "mei", "nora", "omar", "priya", "quinn", "rosa")
LAST_NAMES = ("adler", "baptiste", "costa", "dubois", "eriksen", "fischer", "garcia", "haddad",
              "ivanova", "jensen", "kowalski", "lindqvist", "moreau", "nakamura", "okafor")
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")

SITES = (
    {"host": "www.example.com", "brand": "Example Corp", "section": "articles",
     "nav": ("Home", "About", "Contact"),
     "cookie": "This site uses cookies to improve your experience. By continuing to browse, "
               "you agree to our use of cookies.",
     "footer": ("Copyright 2026 Example Corp. All rights reserved.",
                "Privacy Policy | Terms of Service | Sitemap")},
    {"host": "blog.example.net", "brand": "Example Net Blog", "section": "posts",
     "nav": ("Home", "Archive", "Categories", "Subscribe"),
     "cookie": "We use cookies to personalise content and to analyse our traffic.",
     "footer": ("© 2026 Example Net Blog. Powered by DemoPress.",
                "Follow us for daily updates.")},
    {"host": "docs.example.org", "brand": "Example Docs", "section": "guides",
     "nav": ("Docs", "Tutorials", "API Reference", "Community"),
     "cookie": "This website stores cookies on your computer to remember your preferences.",
     "footer": ("Copyright 2026 Example Docs Project. Content licensed for demonstration only.",
                "Was this page helpful? Send us feedback.")},
)
PAGE_TITLES = ("Understanding {topic}", "{Topic}: a practical guide", "Notes on {topic}",
               "{Topic} explained", "A closer look at {topic}", "Getting started with {topic}")
NEWS_HEADLINES = ("New guidance on {topic} published", "{Topic} changes expected next quarter",
                  "Experts weigh in on {topic}", "Residents debate {topic} at town meeting",
                  "Report finds growing interest in {topic}", "{Topic} back on the agenda")
NEWS_CITIES = ("SPRINGFIELD", "RIVERTON", "LAKEVIEW", "FAIRMONT", "HILLCREST", "BAYPORT")
NEWS_OUTLET = "Example News"
NEWS_FOOTER = "Subscribe to the Example News daily briefing for more stories like this."
QUESTIONS = ("How does {name} work?", "What is {name} actually for?",
             "Can someone explain what {name} does?",
             "When should I use {name} instead of writing it myself?",
             "I am confused by {name}. What does it do?",
             "Is there a simple explanation of {topic}?",
             "Why would I need {topic} in a real program?")
FOLLOW_UPS = ("Thanks, that helps.", "Makes sense, thank you.", "Got it.",
              "That clears it up, thanks.", "Interesting, I did not know that.")
FORUM_USERS = ("quietcoder", "bytewise", "lamplighter", "tidepool", "mapleleaf", "nightowl42",
               "graniteshell", "paperkite", "slowloris", "ferncloud", "oldtimer", "pixelmoth")
# Forum signatures: repeated under most posts of their author, i.e. boilerplate lines.
SIGNATURES = {
    "quietcoder": "Sent from my phone, please excuse any typos.",
    "bytewise": "Opinions are my own and not those of my employer.",
    "nightowl42": "Posted with ForumKit 4.2 | Report abuse | Reply with quote",
    "oldtimer": "Remember to mark the thread as solved when your problem is fixed.",
    "pixelmoth": "Sent from my phone, please excuse any typos.",
}
WIKI_SECTIONS = ("Overview", "History", "Design", "Implementation", "Usage", "Reception",
                 "Limitations", "Related concepts")
BOOK_ADJECTIVES = ("Silent", "Patient", "Recursive", "Forgotten", "Lazy", "Immutable",
                   "Wandering", "Hidden", "Borrowed", "Quiet", "Eager", "Frozen")
BOOK_NOUNS = ("Iterator", "Garden", "Archive", "Protocol", "Lighthouse", "Namespace", "River",
              "Descriptor", "Harbour", "Generator", "Library", "Compass")
BOOK_AUTHORS = ("Ada Whitfield", "Jonah Marlowe", "Tamsin Greaves", "Rafael Okonjo",
                "Wilhelmina Struve", "Elias Vanterpool", "Marguerite Sallow", "Kenji Arakawa")
LOREM_WORDS = (
    "lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do",
    "eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna", "aliqua", "enim",
    "ad", "minim", "veniam", "quis", "nostrud", "exercitation", "ullamco", "laboris", "nisi",
    "aliquip", "ex", "ea", "commodo", "consequat", "duis", "aute", "irure", "in",
    "reprehenderit", "voluptate", "velit", "esse", "cillum", "fugiat", "nulla", "pariatur",
    "excepteur", "sint", "occaecat", "cupidatat", "non", "proident", "sunt", "culpa", "qui",
    "officia", "deserunt", "mollit", "anim", "id", "est", "laborum",
)
SYMBOLS = "#$%^&*()_+=-~`[]{}|\\:;\"'<>,.?/!@"
SHORT_OPENERS = ("Thanks", "Bump", "Same here", "Any update", "Fixed", "Nice", "Agreed",
                 "Following", "Confirmed", "Closing")
SHORT_TAILS = ("on build {n}.", "for release {n}?", "since version {n}.", "in ticket {n}.",
               "after restart {n}.", "per comment {n}.")
BULLET_MARKERS = ("• ", "- ", "* ", "· ")
BULLET_INTROS = ("Things to pack:", "Checklist for the release:", "Agenda:", "Quick links:",
                 "Shopping list:")


# ---------------------------------------------------------------------------------------------
# The prose pool, read from the standard library.

_TEST_DIRS = frozenset({"test", "tests", "idle_test"})
_SKIP_DIRS = frozenset({"site-packages", "dist-packages", "__pycache__"})
_TEXT_SUFFIXES = (".txt", ".rst", ".md", ".html")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_BAD_SENTENCE = re.compile(
    r"[{}\[\]<>=|\\`*#@$%^~]|::|\.\.\.|\d+\.\d+\.\d+|https?:|www\.|\blorem\b|\bipsum\b|cookie"
    r"|javascript|\d{3}[-. ]\d{4}|\b(?:TODO|XXX|FIXME)\b|\bDO NOT EDIT\b|\bwrote:", re.IGNORECASE)
_WORD = re.compile(r"[a-z]{3,12}")


@dataclasses.dataclass(frozen=True)
class ProsePool:
    """Sentences in reading order (so neighbours are coherent), grouped into units."""

    sentences: tuple[str, ...]
    units: tuple[tuple[str, int, int], ...]  # (qualified name, first sentence, end)
    vocab: tuple[str, ...]  # lower-case words used to substitute or insert in near-duplicates
    code_files: tuple[str, ...]  # stdlib .py files outside test folders, sorted, '/'-separated
    code_test_files: tuple[str, ...]  # .py files inside test folders, used only for big corpora
    root: str
    docstrings: int
    text_files: int


def stdlib_root() -> str:
    return sysconfig.get_paths()["stdlib"]


def _list_stdlib(root: str) -> tuple[list[str], list[str], list[str]]:
    """(code files, test code files, text files) as sorted '/'-separated relative paths."""
    code, tests, texts = [], [], []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS
                             and not d.startswith(("config-", "lib-dynload")))
        rel_dir = os.path.relpath(dirpath, root)
        parts = [] if rel_dir == "." else rel_dir.split(os.sep)
        in_tests = any(p in _TEST_DIRS for p in parts)
        for name in sorted(filenames):
            rel = "/".join(parts + [name])
            if name.endswith(".py"):
                (tests if in_tests else code).append(rel)
            elif not in_tests and (name.endswith(_TEXT_SUFFIXES)
                                   or name.startswith(("README", "LICENSE"))):
                texts.append(rel)
    return sorted(code), sorted(tests), sorted(texts)


def _module_name(rel: str) -> str:
    name = rel[:-3].replace("/", ".")
    return name.removesuffix(".__init__")


def _docstrings_of(root: str, rels: list[str]) -> list[tuple[str, str]]:
    """(qualified name, docstring) for every module, class and function docstring in the files.

    Runs in worker processes; ast object creation is much faster with the cyclic GC paused.
    """
    out: list[tuple[str, str]] = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for rel in rels:
            try:
                with open(os.path.join(root, rel), "rb") as f:
                    tree = ast.parse(f.read().decode("utf-8"))
            except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
                continue
            module = _module_name(rel)
            if rel == "pydoc_data/topics.py":  # the help topics: a dict of reference prose
                for node in tree.body:
                    if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
                        for key, value in zip(node.value.keys, node.value.values):
                            if (isinstance(key, ast.Constant) and isinstance(value, ast.Constant)
                                    and isinstance(value.value, str)):
                                out.append((f"{module}.{key.value}", value.value))
                continue
            stack: list[tuple[ast.AST, str]] = [(tree, module)]
            while stack:
                node, name = stack.pop(0)
                doc = ast.get_docstring(node, clean=True)  # type: ignore[arg-type]
                if doc:
                    out.append((name, doc))
                for child in getattr(node, "body", ()):
                    if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                        stack.append((child, f"{name}.{child.name}"))
            del tree
    finally:
        if gc_was_enabled:
            gc.enable()
    return out


def _extract_all_docstrings(root: str, rels: list[str]) -> list[tuple[str, str]]:
    """Docstrings of all files, in file order; parallel where there are several CPUs."""
    workers = min(8, os.cpu_count() or 1)
    if workers <= 1 or len(rels) < 50:
        return _docstrings_of(root, rels)
    chunk = math.ceil(len(rels) / (workers * 4))
    chunks = [rels[i:i + chunk] for i in range(0, len(rels), chunk)]
    try:
        # 'spawn' is safe whatever threads the caller runs (Beam, pytest plugins).
        with concurrent.futures.ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            parts = list(pool.map(_docstrings_of, [root] * len(chunks), chunks))
    except (OSError, RuntimeError, BrokenProcessPool):
        return _docstrings_of(root, rels)  # same result, only slower
    return [item for part in parts for item in part]


def _html_to_text(markup: str) -> str:
    markup = re.sub(r"(?is)<(script|style|pre)[^>]*>.*?</\1>", "\n\n", markup)
    markup = re.sub(r"(?i)</?(p|div|h\d|li|ul|ol|br|tr|dd|dt|dl|table|section)\b[^>]*>", "\n\n",
                    markup)
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def _prose_blocks(text: str) -> list[str]:
    """Paragraphs of running prose: no doctest, no indented code, no bullets or headings."""
    blocks = []
    for block in re.split(r"\n[ \t]*\n", text):
        lines = [line for line in block.split("\n") if line.strip()]
        if not lines:
            continue
        if any(line.startswith((" ", "\t")) or line.lstrip().startswith((">>>", "..."))
               for line in lines):
            continue
        if lines[0].lstrip().startswith(("-", "*", "+", "#", "=", ":", "|")):
            continue
        blocks.append(" ".join(line.strip() for line in lines))
    return blocks


def _good_sentence(s: str) -> bool:
    if not s.isascii() or not s.isprintable():
        return False
    words = s.split()
    if not 6 <= len(words) <= 45 or not s[0].isupper() or s[-1] not in ".!?":
        return False
    if _BAD_SENTENCE.search(s):
        return False
    nonspace = len(s) - s.count(" ")
    if sum(c.isalpha() for c in s) < 0.8 * nonspace:
        return False
    codeish = sum(1 for w in words if "_" in w or "(" in w or "." in w[:-1])
    return codeish <= 0.15 * len(words)


def _sentences_of(text: str) -> list[str]:
    out = []
    for block in _prose_blocks(text):
        for s in _SENTENCE_SPLIT.split(re.sub(r"\s+", " ", block).strip()):
            if _good_sentence(s):
                out.append(s)
    return out


@functools.lru_cache(maxsize=4)
def build_pool(root: str | None = None) -> ProsePool:
    """Reads the stdlib once per process (cached): sentences, vocabulary and code file list."""
    root = root or stdlib_root()
    code, tests, texts = _list_stdlib(root)
    units_raw: list[tuple[str, str]] = _extract_all_docstrings(root, code)
    n_docstrings = len(units_raw)
    for rel in texts:
        try:
            with open(os.path.join(root, rel), "rb") as f:
                raw = f.read().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        units_raw.append((rel, _html_to_text(raw) if rel.endswith(".html") else raw))
    sentences: list[str] = []
    seen: set[str] = set()
    units = []
    for name, text in units_raw:
        start = len(sentences)
        for s in _sentences_of(text):
            if s not in seen:
                seen.add(s)
                sentences.append(s)
        if len(sentences) > start:
            units.append((name, start, len(sentences)))
    if len(sentences) < 500:
        raise RuntimeError(f"only {len(sentences)} prose sentences found in the standard library "
                           f"at {root}; is it a complete CPython installation?")
    vocab = sorted({w for s in sentences for w in _WORD.findall(s.lower())})
    return ProsePool(sentences=tuple(sentences), units=tuple(units), vocab=tuple(vocab),
                     code_files=tuple(code), code_test_files=tuple(tests), root=root,
                     docstrings=n_docstrings, text_files=len(texts))


# ---------------------------------------------------------------------------------------------
# Small text helpers.

@functools.lru_cache(maxsize=65536)
def humanize(qualname: str) -> str:
    """'asyncio.base_events.BaseEventLoop.create_server' -> 'create server'."""
    parts = [p for p in qualname.replace("/", ".").split(".") if p.strip("_")
             and p not in ("py", "txt", "rst", "html", "__init__")]
    last = parts[-1].strip("_") if parts else "python"
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", last).replace("_", " ").split()
    return " ".join(words).lower() or "python"


def slugify(text: str, limit: int = 48) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:limit].strip("-") or "untitled"


def word_shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    words = text.lower().split()
    if len(words) < n:
        return {tuple(words)}
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: str, b: str, n: int = 5) -> float:
    sa, sb = word_shingles(a, n), word_shingles(b, n)
    union = len(sa | sb)
    return len(sa & sb) / union if union else 1.0


def mis_decode(text: str) -> str:
    """UTF-8 bytes read as cp1252 (latin-1 for the 5 bytes cp1252 leaves undefined)."""
    out = []
    for ch in text:
        if ord(ch) < 128:
            out.append(ch)
            continue
        for b in ch.encode("utf-8"):
            try:
                out.append(bytes([b]).decode("cp1252"))
            except UnicodeDecodeError:
                out.append(chr(b))
    return "".join(out)


def re_encode(mojibake: str) -> str:
    """Inverse of mis_decode (used by tests and by anyone checking a fix)."""
    data = bytearray()
    for ch in mojibake:
        try:
            data += ch.encode("cp1252")
        except UnicodeEncodeError:
            data += bytes([ord(ch)])
    return data.decode("utf-8")


def has_control_chars(text: str) -> bool:
    return any(unicodedata.category(c) == "Cc" and c not in "\n\t\r" for c in text)


def _short_title(sentence: str) -> str:
    if " " not in sentence:  # Chinese, Japanese: no spaces
        return sentence[:12]
    words = [w.strip(".,;:!?¿¡،।") for w in sentence.split()[:6]]
    return " ".join(w for w in words if w)


# ---------------------------------------------------------------------------------------------
# Documents and the planted items that refer to them.

@dataclasses.dataclass(eq=False)
class Doc:
    source: str
    text: str
    meta: dict[str, Any]
    location: str = ""
    planted: bool = False    # made by planting (a copy, junk, non-English...), not ordinary
    modified: bool = False   # an ordinary document altered in place (PII, mojibake...)
    frozen: bool = False     # the original of a duplicate: must not be altered afterwards

    @property
    def doc_id(self) -> str:
        return document_id(self.source, self.location)

    def ref(self) -> dict[str, str]:
        return {"source": self.source, "location": self.location, "doc_id": self.doc_id}


class Composer:
    """Builds English text from the pool: runs of consecutive sentences, recombined."""

    def __init__(self, pool: ProsePool, rng: random.Random):
        self.pool, self.rng = pool, rng
        self.s = pool.sentences
        self.n = len(pool.sentences)

    def sentences(self, k: int) -> list[str]:
        # random() is several times cheaper than randrange() and this is the hot loop.
        out: list[str] = []
        rand, s, n = self.rng.random, self.s, self.n
        while len(out) < k:
            start = int(rand() * n)
            out.extend(s[start:start + 1 + int(rand() * 3)])
        return out[:k]

    def paragraph(self, lo: int = 2, hi: int = 6) -> str:
        return " ".join(self.sentences(self.rng.randint(lo, hi)))

    def unit(self) -> tuple[str, list[str]]:
        name, a, b = self.pool.units[self.rng.randrange(len(self.pool.units))]
        return name, list(self.s[a:min(b, a + 6)])

    def word(self) -> str:
        return self.pool.vocab[self.rng.randrange(len(self.pool.vocab))]


def _count(n: int, rate: float, minimum: int) -> int:
    return max(minimum, round(rate * n))


class SourceBuild:
    """One source's documents, planted items and malformed inputs while they are built."""

    def __init__(self, name: str, role: str, fmt: str, folder: str, seed: int, pool: ProsePool):
        self.name, self.role, self.format, self.folder = name, role, fmt, folder
        self.rng = random.Random(f"demo-corpus:{seed}:{name}")
        self.compose = Composer(pool, self.rng)
        self.pool = pool
        self.docs: list[Doc] = []
        self.truth: list[dict[str, Any]] = []
        self.malformed: list[dict[str, Any]] = []
        self.boilerplate: list[dict[str, Any]] = []
        self.files: list[str] = []
        self.raw_bytes = 0
        self.documents = 0
        self.pii_made = 0  # PII sentences so far: templates cycle so every kind appears
        self.readable_extra: list[Doc] = []  # documents outside self.docs a reader still gets

    def new(self, text: str, **meta: Any) -> Doc:
        return Doc(self.name, text, meta)

    def ordinary(self) -> list[Doc]:
        return [d for d in self.docs if not d.planted]

    def pick_originals(self, k: int) -> list[Doc]:
        pool = [d for d in self.ordinary() if not d.modified and not d.frozen]
        if len(pool) < k:
            pool = [d for d in self.ordinary() if not d.modified]
        chosen = self.rng.sample(pool, min(k, len(pool)))
        for d in chosen:
            d.frozen = True
        return chosen

    def pick_to_modify(self, k: int) -> list[Doc]:
        pool = [d for d in self.ordinary() if not d.modified and not d.frozen]
        chosen = self.rng.sample(pool, min(k, len(pool)))
        for d in chosen:
            d.modified = True
        return chosen

    def insert(self, doc: Doc) -> Doc:
        doc.planted = True
        self.docs.insert(self.rng.randrange(len(self.docs) + 1), doc)
        return doc

    def record(self, doc: Doc, category: str, **details: Any) -> None:
        self.truth.append({"doc": doc, "category": category, "details": details})


# ---------------------------------------------------------------------------------------------
# Planting helpers shared by the sources.

def edit_words(text: str, fraction: float, rng: random.Random, vocab: tuple[str, ...],
               clustered: bool) -> tuple[str, dict[str, int], float]:
    """Substitutes, deletes or inserts words at `fraction` of word positions (line structure
    kept). Returns the new text, the edit counts and the actual fraction of words edited."""
    lines = [line.split(" ") if line else [] for line in text.split("\n")]
    positions = [(i, j) for i, words in enumerate(lines) for j in range(len(words))]
    n = len(positions)
    k = max(1, round(fraction * n))
    if clustered:
        start = rng.randrange(max(1, n - k))
        chosen = positions[start:start + k]
    else:
        chosen = sorted(rng.sample(positions, k))
    ops = {"substitute": 0, "delete": 0, "insert": 0}
    for i, j in reversed(chosen):  # from the end, so earlier indices stay valid
        op = rng.choice(("substitute", "substitute", "delete", "insert"))
        ops[op] += 1
        if op == "substitute":
            new = vocab[rng.randrange(len(vocab))]
            while new == lines[i][j].lower():
                new = vocab[rng.randrange(len(vocab))]
            lines[i][j] = new
        elif op == "delete":
            del lines[i][j]
        else:
            lines[i].insert(j + 1, vocab[rng.randrange(len(vocab))])
    return "\n".join(" ".join(words) for words in lines), ops, k / n


def make_pii(rng: random.Random, which: int) -> tuple[str, list[dict[str, str]]]:
    """A sentence holding PII (template `which`, cycling), and the PII strings in it."""
    kind, template = PII_TEMPLATES[which % len(PII_TEMPLATES)]
    values: dict[str, str] = {}
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    values["email"] = f"{first}.{last}{rng.randint(1, 99)}@{rng.choice(EMAIL_DOMAINS)}"
    values["ipv4"] = f"{rng.choice(('192.0.2', '198.51.100', '203.0.113'))}.{rng.randint(1, 254)}"
    values["ipv6"] = (f"2001:db8:{rng.randrange(1, 0x10000):x}:{rng.randrange(0x10000):x}::"
                      f"{rng.randrange(1, 0x10000):x}")
    if rng.random() < 0.5:
        values["phone"] = (f"+1 ({rng.choice((206, 212, 312, 415, 617))}) "
                           f"555-01{rng.randint(0, 99):02d}")
    else:
        values["phone"] = f"+44 20 7946 0{rng.randint(0, 999):03d}"
    sentence = template.format(**values)
    items = [{"kind": k, "value": values[k]} for k in kind.split("+")]
    return sentence, items


def _append_to_line(text: str, addition: str, rng: random.Random,
                    min_len: int = 40) -> str:
    lines = text.split("\n")
    candidates = [i for i, line in enumerate(lines) if len(line) >= min_len] or [len(lines) - 1]
    i = rng.choice(candidates)
    lines[i] = f"{lines[i]} {addition}"
    return "\n".join(lines)


def plant_pii(b: SourceBuild, k: int, *, min_len: int = 40) -> None:
    for doc in b.pick_to_modify(k):
        items: list[dict[str, str]] = []
        for _ in range(b.rng.randint(1, 2)):
            sentence, new_items = make_pii(b.rng, b.pii_made)
            b.pii_made += 1
            doc.text = _append_to_line(doc.text, sentence, b.rng, min_len)
            items.extend(new_items)
        b.record(doc, "pii", items=items)


def plant_mojibake(b: SourceBuild, k: int) -> None:
    for doc in b.pick_to_modify(k):
        originals = b.rng.sample(MOJIBAKE_SOURCES, 2)
        fragments = [mis_decode(s) for s in originals]
        for frag in fragments:
            doc.text = _append_to_line(doc.text, frag, b.rng)
        b.record(doc, "mojibake", fragments=fragments, originals=originals,
                 encoding="utf-8 bytes decoded as cp1252")


def plant_control_chars(b: SourceBuild, k: int) -> None:
    for doc in b.pick_to_modify(k):
        words = doc.text.split(" ")
        inserted = []
        for _ in range(b.rng.randint(3, 6)):
            seq = b.rng.choice(CONTROL_SEQUENCES)
            i = b.rng.randrange(1, len(words))
            words[i] = seq + words[i]
            inserted.append(seq)
        doc.text = " ".join(words)
        b.record(doc, "control_chars", inserted=inserted, count=len(inserted))


def plant_exact_duplicates(b: SourceBuild, k: int, copy_meta: Callable[[Doc], dict]) -> None:
    for orig in b.pick_originals(k):
        dup = b.insert(b.new(orig.text, **copy_meta(orig)))
        b.record(dup, "exact_duplicate", original=orig, scope="within_source")


def plant_near_duplicates(b: SourceBuild, k: int, copy_meta: Callable[[Doc], dict]) -> None:
    for orig in b.pick_originals(k):
        clustered = b.rng.random() < 0.5
        fraction = b.rng.uniform(0.03, 0.20) if clustered else b.rng.uniform(0.02, 0.10)
        text, ops, actual = edit_words(orig.text, fraction, b.rng, b.pool.vocab, clustered)
        dup = b.insert(b.new(text, **copy_meta(orig)))
        b.record(dup, "near_duplicate", original=orig, mode="clustered" if clustered else
                 "scattered", edit_fraction=round(actual, 4), edits=ops,
                 word_5gram_jaccard=round(jaccard(orig.text, text), 4))


def symbol_soup(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(8, 20)):
        tokens = ("".join(rng.choice(SYMBOLS) for _ in range(rng.randint(3, 12)))
                  for _ in range(rng.randint(5, 12)))
        lines.append(" ".join(tokens))
    return "\n".join(lines)


def lorem_paragraphs(rng: random.Random, k: int) -> list[str]:
    paras = []
    for p in range(k):
        sentences = ["Lorem ipsum dolor sit amet, consectetur adipiscing elit."] if p == 0 else []
        for _ in range(rng.randint(3, 6)):
            words = [rng.choice(LOREM_WORDS) for _ in range(rng.randint(6, 14))]
            sentences.append(" ".join(words).capitalize() + ".")
        paras.append(" ".join(sentences))
    return paras


def bullet_text(b: SourceBuild) -> str:
    marker = b.rng.choice(BULLET_MARKERS)
    lines = [b.rng.choice(BULLET_INTROS)]
    for _ in range(b.rng.randint(16, 30)):
        lines.append(marker + " ".join(b.compose.word() for _ in range(b.rng.randint(2, 5))))
    return "\n".join(lines)


def repetitive_text(b: SourceBuild) -> tuple[str, str, int]:
    line = b.compose.sentences(1)[0]
    times = b.rng.randint(20, 40)
    return "\n".join([line] * times), line, times


def short_text(b: SourceBuild, used: set[str]) -> str:
    while True:
        text = (f"{b.rng.choice(SHORT_OPENERS)} "
                + b.rng.choice(SHORT_TAILS).format(n=b.rng.randint(100, 99999)))
        if text not in used:
            used.add(text)
            return text


def foreign_documents(seed: int) -> dict[str, list[tuple[str, list[str]]]]:
    """target source -> [(language, 5 sentences)]; a language's documents share no sentence."""
    rng = random.Random(f"demo-corpus:{seed}:foreign")
    out: dict[str, list[tuple[str, list[str]]]] = {t: [] for t in FOREIGN_TARGETS}
    per_doc = FOREIGN_SENTENCES_PER_DOC
    for li, (lang, sentences) in enumerate(FOREIGN.items()):
        order = list(sentences)
        rng.shuffle(order)
        n_docs = len(order) // per_doc
        targets = [FOREIGN_TARGETS[(li + j) % len(FOREIGN_TARGETS)] for j in range(n_docs)]
        for j, target in enumerate(targets):
            out[target].append((lang, order[j * per_doc:(j + 1) * per_doc]))
    return out


# ---------------------------------------------------------------------------------------------
# Source builders: ordinary documents up to the byte budget, then the planted items.

def _fill(b: SourceBuild, budget: float, make: Callable[[], Doc],
          size: Callable[[Doc], int] = lambda d: len(d.text)) -> None:
    used = 0
    while used < budget or len(b.docs) < MIN_DOCS[b.name]:
        doc = make()
        b.docs.append(doc)
        used += size(doc)


def _conversation_text(b: SourceBuild) -> str:
    rng, c = b.rng, b.compose
    if rng.random() < 0.5:  # assistant chat
        turns = []
        for t in range(rng.randint(1, 3)):
            name, unit_sentences = c.unit()
            question = rng.choice(QUESTIONS).format(name=name.rsplit(".", 1)[-1],
                                                    topic=humanize(name))
            if t and rng.random() < 0.6:
                question = f"{rng.choice(FOLLOW_UPS)} {question}"
            elif rng.random() < 0.4:
                question = f"{c.sentences(1)[0]} {question}"
            answer = unit_sentences[:rng.randint(2, 4)] + c.sentences(rng.randint(1, 3))
            turns.append(f"User: {question}")
            turns.append(f"Assistant: {' '.join(answer)}")
        return "\n".join(turns)
    subject = humanize(c.unit()[0]).capitalize()
    posts = [f"Subject: Question about {subject.lower()}"]
    for _ in range(rng.randint(2, 5)):
        author = rng.choice(FORUM_USERS)
        post = f"{author} wrote:\n{c.paragraph(2, 5)}"
        if author in SIGNATURES and rng.random() < 0.9:
            post += "\n" + SIGNATURES[author]
        posts.append(post)
    return "\n\n".join(posts)


def build_conversations(b: SourceBuild, budget: float) -> None:
    _fill(b, budget, lambda: b.new(_conversation_text(b)))
    n = len(b.docs)
    meta = lambda d: {}
    plant_exact_duplicates(b, _count(n, 0.004, 2), meta)
    plant_near_duplicates(b, _count(n, 0.004, 2), meta)
    plant_pii(b, _count(n, 0.006, 3))
    plant_mojibake(b, _count(n, 0.002, 1))
    plant_control_chars(b, _count(n, 0.002, 1))
    for _ in range(_count(n, 0.002, 1)):
        b.record(b.insert(b.new(symbol_soup(b.rng))), "junk_symbols")
    used: set[str] = set()
    for _ in range(_count(n, 0.003, 2)):
        text = short_text(b, used)
        b.record(b.insert(b.new(text)), "junk_too_short", words=len(text.split()))
    for _ in range(_count(n, 0.002, 1)):
        b.record(b.insert(b.new(bullet_text(b))), "junk_bullets")
    for _ in range(_count(n, 0.002, 1)):
        text, line, times = repetitive_text(b)
        b.record(b.insert(b.new(text)), "junk_repetitive", line=line, times=times)


def _page(b: SourceBuild, title: str, paragraphs: list[str], lang: str = "en",
          site: int | None = None) -> Doc:
    site = b.rng.randrange(len(SITES)) if site is None else site
    return b.new("\n\n".join(paragraphs), title=title, site=site, lang=lang)


def _ordinary_page(b: SourceBuild) -> Doc:
    c = b.compose
    name, lead = c.unit()
    topic = humanize(name)
    title = b.rng.choice(PAGE_TITLES).format(topic=topic, Topic=topic.capitalize())
    paragraphs = [" ".join(lead[:4] + c.sentences(b.rng.randint(1, 2)))]
    paragraphs += [c.paragraph(3, 6) for _ in range(b.rng.randint(2, 7))]
    return _page(b, title, paragraphs)


def build_webpages(b: SourceBuild, budget: float) -> None:
    _fill(b, budget, lambda: _ordinary_page(b), lambda d: len(d.text) + WEB_HTML_OVERHEAD)
    n = len(b.docs)
    meta = lambda d: dict(d.meta)
    plant_exact_duplicates(b, _count(n, 0.004, 2), meta)
    plant_near_duplicates(b, _count(n, 0.004, 2), meta)
    plant_pii(b, _count(n, 0.005, 2))
    plant_mojibake(b, _count(n, 0.002, 1))
    for _ in range(_count(n, 0.003, 1)):
        doc = b.insert(_page(b, "Lorem ipsum", lorem_paragraphs(b.rng, b.rng.randint(3, 6))))
        b.record(doc, "junk_lorem_ipsum")


def _wet_text(b: SourceBuild, title: str, paragraphs: list[str], site: int) -> str:
    s = SITES[site]
    return "\n".join([" | ".join(s["nav"]), s["cookie"], title, *paragraphs, *s["footer"]])


def build_web_wet(b: SourceBuild, budget: float) -> None:
    def make() -> Doc:
        page = _ordinary_page(b)
        return b.new(_wet_text(b, page.meta["title"], page.text.split("\n\n"),
                               page.meta["site"]), site=page.meta["site"])
    _fill(b, budget, make)
    n = len(b.docs)
    plant_pii(b, _count(n, 0.005, 1), min_len=200)
    for _ in range(_count(n, 0.005, 1)):
        b.record(b.insert(b.new(symbol_soup(b.rng), site=None)), "junk_symbols")
    for _ in range(_count(n, 0.005, 1)):
        b.record(b.insert(b.new(bullet_text(b), site=None)), "junk_bullets")
    for _ in range(_count(n, 0.005, 1)):
        site = b.rng.randrange(len(SITES))
        text = _wet_text(b, "Lorem ipsum", lorem_paragraphs(b.rng, b.rng.randint(3, 5)), site)
        b.record(b.insert(b.new(text, site=site)), "junk_lorem_ipsum")


def _book(b: SourceBuild, target: int) -> Doc:
    rng, c = b.rng, b.compose
    title = f"The {rng.choice(BOOK_ADJECTIVES)} {rng.choice(BOOK_NOUNS)}"
    if rng.random() < 0.5:
        title += f", Volume {rng.randint(1, 9)}"
    author = rng.choice(BOOK_AUTHORS)
    blocks = [title, f"by {author}"]
    size, chapter = 0, 0
    while size < target:
        chapter += 1
        blocks.append(f"Chapter {chapter}")
        for _ in range(rng.randint(8, 15)):
            para = c.paragraph(3, 8)
            blocks.append(para)
            size += len(para) + 2
    return b.new("\n\n".join(blocks) + "\n", title=title)


def build_books(b: SourceBuild, budget: float) -> None:
    cap = max(20_000, int(budget / MIN_DOCS["books"]))
    _fill(b, budget, lambda: _book(b, min(b.rng.randint(20_000, 200_000), cap)))
    n = len(b.docs)
    meta = lambda d: dict(d.meta)
    plant_exact_duplicates(b, _count(n, 0.02, 1), meta)
    plant_near_duplicates(b, _count(n, 0.02, 1), meta)
    plant_pii(b, _count(n, 0.02, 1))
    plant_mojibake(b, _count(n, 0.02, 1))
    text, line, times = repetitive_text(b)
    title = "Notes"
    b.record(b.insert(b.new(f"{title}\n\n{text}\n", title=title)), "junk_repetitive",
             line=line, times=times)


def _minified_source(rng: random.Random) -> str:
    parts = ["import os,sys,re"]
    for i in range(80):
        parts.append(f"f{i}=lambda a,b={i}:(a*b+{rng.randint(1, 999)})%{rng.randint(2, 97)} "
                     f"if a>{i} else [b,a][{i}%2]")
    calls = ";".join(f"r{i}=f{i}({rng.randint(0, 99)})" for i in range(80))
    return ";".join(parts) + "\n" + calls + "\n"


def _generated_source(rng: random.Random) -> tuple[str, str]:
    header = "# Generated by the protocol buffer compiler.  DO NOT EDIT!"
    blob = bytes(rng.randrange(256) for _ in range(600))
    lines = ["# -*- coding: utf-8 -*-", header, "# source: demo/telemetry.proto",
             '"""Generated protocol buffer code."""',
             "from google.protobuf import descriptor as _descriptor",
             "from google.protobuf import descriptor_pool as _descriptor_pool",
             "from google.protobuf import symbol_database as _symbol_database", "",
             "_sym_db = _symbol_database.Default()", "",
             f"DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile({blob!r})", ""]
    for i in range(1, 121):
        lines.append(f"_TELEMETRY_FIELD{i}_FIELD_NUMBER = {i}")
        lines.append(f"_TELEMETRY_FIELD{i}._serialized_start = {rng.randint(100, 9999)}")
    return "\n".join(lines) + "\n", header


def _symbols_source(rng: random.Random) -> str:
    lines = []
    for _ in range(60):
        lines.append("# " + "".join(rng.choice("=-+*#/\\|_<>~^:.") for _ in range(70)))
    lines.append('BANNER = "~~~"')
    return "\n".join(lines) + "\n"


def _edit_code_lines(text: str, fraction: float, rng: random.Random) -> tuple[str, dict, float]:
    lines = text.split("\n")
    candidates = [i for i, line in enumerate(lines) if line.strip()]
    k = max(1, round(fraction * len(candidates)))
    chosen = sorted(rng.sample(candidates, k))
    ops = {"rename": 0, "insert_comment": 0, "delete": 0}
    for i in reversed(chosen):
        line = lines[i]
        op = rng.choice(("rename", "rename", "insert_comment", "delete"))
        m = re.search(r"\b([A-Za-z_]\w{3,})\b", line)
        if op == "rename" and m:
            lines[i] = line[:m.end()] + "_old" + line[m.end():]
        elif op == "delete":
            del lines[i]
        else:
            op = "insert_comment"
            indent = line[:len(line) - len(line.lstrip())]
            lines.insert(i, f"{indent}# NOTE: kept for backwards compatibility")
        ops[op] += 1
    return "\n".join(lines), ops, k / len(candidates)


def line_similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a.split("\n"), b.split("\n"), autojunk=False).ratio()


def _clean_code(rel: str, text: str) -> bool:
    """False for files that are generated (codec tables, build-config dumps) or would trip the
    code quality rules (a line over 1000 chars, mean line over 100, alphanumerics under 25 %),
    so that in the demo corpus only the planted files do."""
    if rel.rsplit("/", 1)[-1].startswith("_sysconfigdata"):
        return False
    head = text[:2000].lower()
    if "gencodec.py" in head or "do not edit" in head or "generated by" in head:
        return False
    lines = text.split("\n")
    if max(len(line) for line in lines) > 1000 or len(text) / len(lines) > 100:
        return False
    return sum(c.isalnum() for c in text) >= 0.25 * len(text)


def build_code(b: SourceBuild, budget: float) -> float:
    """Returns the bytes of the budget that the stdlib could not fill (given to other sources)."""
    files = list(b.pool.code_files)
    b.rng.shuffle(files)
    tests = list(b.pool.code_test_files)
    b.rng.shuffle(tests)
    used = 0
    seen: set[str] = set()
    for rel in files + tests:
        if used >= budget and len(b.docs) >= MIN_DOCS["code"]:
            break
        path = os.path.join(b.pool.root, *rel.split("/"))
        try:
            if not 200 <= os.path.getsize(path) <= MAX_CODE_FILE_BYTES:
                continue
            with open(path, "rb") as f:
                text = f.read().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        # Only the planted files may be duplicates or break the code quality rules.
        if text in seen or not _clean_code(rel, text):
            continue
        seen.add(text)
        doc = b.new(text)
        doc.location = rel
        b.docs.append(doc)
        used += len(text.encode("utf-8"))
    shortfall = max(0.0, budget - used)
    n = len(b.docs)
    for orig in b.pick_originals(_count(n, 0.01, 1)):
        dup = b.insert(b.new(orig.text))
        dup.location = f"third_party/{orig.location}"
        b.record(dup, "exact_duplicate", original=orig, scope="within_source")
    small = [d for d in b.ordinary() if not d.frozen and not d.modified and len(d.text) < 60_000]
    for orig in b.rng.sample(small, min(len(small), _count(n, 0.01, 1))):
        orig.frozen = True
        fraction = b.rng.uniform(0.03, 0.15)
        text, ops, actual = _edit_code_lines(orig.text, fraction, b.rng)
        dup = b.insert(b.new(text))
        dup.location = f"legacy/{orig.location}"
        b.record(dup, "near_duplicate", original=orig, mode="lines",
                 edit_fraction=round(actual, 4), edits=ops,
                 line_similarity=round(line_similarity(orig.text, text), 4),
                 word_5gram_jaccard=round(jaccard(orig.text, text), 4))
    for doc in b.pick_to_modify(_count(n, 0.01, 1)):
        sentence, items = make_pii(b.rng, b.pii_made)
        b.pii_made += 1
        doc.text = f"# Maintainer note: {sentence}\n{doc.text}"
        b.record(doc, "pii", items=items)
    doc = b.insert(b.new(_minified_source(b.rng)))
    doc.location = "static/minified_helpers.py"
    b.record(doc, "code_minified",
             longest_line=max(len(line) for line in doc.text.split("\n")))
    text, header = _generated_source(b.rng)
    doc = b.insert(b.new(text))
    doc.location = "generated/telemetry_pb2.py"
    b.record(doc, "code_generated", header=header)
    doc = b.insert(b.new(_symbols_source(b.rng)))
    doc.location = "misc/banner_art.py"
    alnum = sum(ch.isalnum() for ch in doc.text) / len(doc.text)
    b.record(doc, "code_symbols", alphanumeric_fraction=round(alnum, 4))
    return shortfall


def _article(b: SourceBuild, titles: set[str]) -> Doc:
    rng, c = b.rng, b.compose
    name, lead = c.unit()
    title = humanize(name).capitalize()
    if title in titles:
        title = f"{title} ({name.split('.')[0]})"
    k = 2
    while title in titles:
        title = f"{humanize(name).capitalize()} ({k})"
        k += 1
    titles.add(title)
    blocks = [title, " ".join(lead[:5] + c.sentences(rng.randint(1, 3)))]
    for heading in rng.sample(WIKI_SECTIONS, rng.randint(2, 5)):
        blocks.append(heading)
        blocks += [c.paragraph(3, 7) for _ in range(rng.randint(1, 3))]
    return b.new("\n\n".join(blocks), title=title)


def build_wikipedia(b: SourceBuild, budget: float) -> None:
    titles: set[str] = set()
    _fill(b, budget, lambda: _article(b, titles))
    n = len(b.docs)
    plant_exact_duplicates(b, _count(n, 0.004, 1),
                           lambda d: {"title": d.meta["title"] + " (mirror)"})
    plant_near_duplicates(b, _count(n, 0.004, 2),
                          lambda d: {"title": d.meta["title"] + " (revision)"})
    plant_pii(b, _count(n, 0.004, 1))
    plant_control_chars(b, _count(n, 0.002, 1))


def _news(b: SourceBuild) -> Doc:
    rng, c = b.rng, b.compose
    name, lead = c.unit()
    topic = humanize(name)
    headline = rng.choice(NEWS_HEADLINES).format(topic=topic, Topic=topic.capitalize())
    blocks = [headline,
              f"{rng.choice(NEWS_CITIES)} ({NEWS_OUTLET}) - " + " ".join(lead[:3]
                                                                     + c.sentences(1))]
    blocks += [c.paragraph(2, 4) for _ in range(rng.randint(2, 5))]
    if rng.random() < 0.5:
        blocks.append(NEWS_FOOTER)
    return b.new("\n\n".join(blocks), title=headline)


def build_news(b: SourceBuild, budget: float) -> None:
    _fill(b, budget, lambda: _news(b))
    n = len(b.docs)
    plant_exact_duplicates(b, _count(n, 0.005, 1),
                           lambda d: {"title": d.meta["title"], "syndicated": True})
    plant_near_duplicates(b, _count(n, 0.005, 1), lambda d: {"title": d.meta["title"]})
    plant_pii(b, _count(n, 0.005, 1))
    plant_mojibake(b, _count(n, 0.002, 1))
    plant_control_chars(b, _count(n, 0.002, 1))
    used: set[str] = set()
    for _ in range(_count(n, 0.003, 1)):
        text = short_text(b, used)
        b.record(b.insert(b.new(text)), "junk_too_short", words=len(text.split()))
    for _ in range(_count(n, 0.002, 1)):
        text, line, times = repetitive_text(b)
        b.record(b.insert(b.new(text)), "junk_repetitive", line=line, times=times)


def plant_foreign(builds: dict[str, SourceBuild], seed: int) -> None:
    for target, docs in foreign_documents(seed).items():
        b = builds[target]
        for lang, s in docs:
            title = _short_title(s[0])
            if target == "conversations":
                doc = b.new(f"User: {s[0]} {s[1]}\nAssistant: {' '.join(s[2:])}")
            elif target == "webpages":
                doc = _page(b, title, [" ".join(s[:3]), " ".join(s[3:])], lang=lang)
            elif target == "web_wet":
                site = b.rng.randrange(len(SITES))
                doc = b.new(_wet_text(b, title, [" ".join(s[:3]), " ".join(s[3:])], site),
                            site=site)
            elif target == "wikipedia":
                doc = b.new(f"{title}\n\n{' '.join(s[:3])}\n\n{' '.join(s[3:])}",
                            title=f"{title} ({lang})")
            else:  # news
                doc = b.new(f"{title}\n\n{' '.join(s[:2])}\n\n{' '.join(s[2:])}", title=title)
            b.record(b.insert(doc), "non_english", lang=lang)


def plant_cross_source(builds: dict[str, SourceBuild]) -> None:
    """Text that appears in two sources: what per-source dedup cannot catch."""
    news, conv, wiki, wet = (builds["news"], builds["conversations"], builds["wikipedia"],
                             builds["web_wet"])
    books, web = builds["books"], builds["webpages"]
    # A news article pasted whole into a forum post.
    for orig in news.pick_originals(_count(len(conv.docs), 0.001, 1)):
        dup = conv.insert(conv.new(orig.text))
        conv.record(dup, "exact_duplicate", original=orig, scope="cross_source")
    # A Wikipedia article captured by a web crawl (WET holds the extracted text).
    for orig in wiki.pick_originals(_count(len(wet.docs), 0.01, 1)):
        dup = wet.insert(wet.new(orig.text, site=None))
        wet.record(dup, "exact_duplicate", original=orig, scope="cross_source")
    # A passage of a book published as a web article.
    for orig in books.pick_originals(_count(len(web.docs), 0.002, 1)):
        blocks = orig.text.rstrip("\n").split("\n\n")
        starts = [i for i in range(2, len(blocks)) if not blocks[i].startswith("Chapter ")]
        start = books.rng.choice(starts)
        end = start
        target = books.rng.randint(3, 6)
        while end < len(blocks) and end - start < target and not blocks[end].startswith(
                "Chapter "):
            end += 1
        passage = "\n\n".join(blocks[start:end])
        page = web.insert(_page(web, f"An excerpt from {orig.meta['title']}",
                                blocks[start:end]))
        web.record(page, "exact_duplicate_passage", original=orig, scope="cross_source",
                   paragraphs=end - start, passage_chars=len(passage),
                   passage_offset=orig.text.index(passage))


# ---------------------------------------------------------------------------------------------
# Writers. Each sets document locations, writes files and counts raw bytes and documents.

def _gzip_bytes(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=6) as f:
        f.write(data)
    return buf.getvalue()


def _jsonl(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


def _split(items: list, parts: int) -> list[list]:
    size = math.ceil(len(items) / parts)
    return [items[i:i + size] for i in range(0, len(items), size)]


def _write(out_dir: str, rel: str, data: bytes) -> None:
    path = os.path.join(out_dir, *rel.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def write_conversations(b: SourceBuild, out: str) -> None:
    docs = b.docs
    for i, doc in enumerate(docs):
        doc.location = f"conv-{i:07d}"
    total = sum(len(d.text) for d in docs)
    n_files = min(64, max(3, math.ceil(total / (4 * MB))))
    for k, chunk in enumerate(_split(docs, n_files)):
        rel = f"{b.folder}/conversations-{k:05d}.jsonl.gz"
        records = [{"id": d.location, "text": d.text,
                    "url": f"https://forum.example.com/t/{d.location}"} for d in chunk]
        _write(out, rel, _gzip_bytes(_jsonl(records)))
        b.files.append(rel)
        b.raw_bytes += sum(len(r["text"].encode("utf-8")) for r in records)
        b.documents += len(records)
    # One more file, cut short in the middle of its gzip stream.
    extra = [b.new(_conversation_text(b)) for _ in range(30)]
    for j, doc in enumerate(extra):
        doc.location = f"conv-{len(docs) + j:07d}"
    records = [{"id": d.location, "text": d.text,
                "url": f"https://forum.example.com/t/{d.location}"} for d in extra]
    full = _gzip_bytes(_jsonl(records))
    cut = int(len(full) * 0.55)
    readable = zlib.decompressobj(wbits=31).decompress(full[:cut])
    complete = readable.count(b"\n")
    rel = f"{b.folder}/conversations-{n_files:05d}.jsonl.gz"
    _write(out, rel, full[:cut])
    b.files.append(rel)
    b.raw_bytes += sum(len(r["text"].encode("utf-8")) for r in records[:complete])
    b.documents += complete
    b.readable_extra = extra[:complete]
    b.malformed.append({"file": rel, "position": f"byte {cut}", "kind": "truncated_gzip",
                        "details": {"compressed_bytes_full": len(full), "compressed_bytes": cut,
                                    "records_in_stream": len(records),
                                    "complete_records": complete,
                                    "first_lost_line": complete + 1,
                                    "first_lost_id": records[complete]["id"]}})


def _warc_id(rng: random.Random) -> str:
    return f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}>"


def _warc_date(i: int) -> str:
    return (BASE_TIME + dt.timedelta(seconds=37 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_html(doc: Doc) -> bytes:
    site = SITES[doc.meta["site"]]
    esc = functools.partial(html.escape, quote=False)
    nav = " | ".join(f'<a href="/{slugify(item)}">{esc(item)}</a>' for item in site["nav"])
    paras = "\n".join(f"<p>{esc(p)}</p>" for p in doc.text.split("\n\n") if p.strip())
    title = esc(doc.meta["title"])
    footer = "\n".join(f"<p>{esc(line)}</p>" for line in site["footer"])
    page = (f'<!DOCTYPE html>\n<html lang="{doc.meta["lang"]}">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{title} | {esc(site['brand'])}</title>\n</head>\n<body>\n"
            f"<header><nav>{nav}</nav></header>\n"
            f'<div class="cookie-banner"><p>{esc(site["cookie"])}</p></div>\n'
            f"<main>\n<article>\n<h1>{title}</h1>\n{paras}\n</article>\n</main>\n"
            f"<footer>\n{footer}\n</footer>\n</body>\n</html>\n")
    return page.encode("utf-8")


def _warcinfo(writer: Any, rel: str, rng: random.Random, i: int, software: str) -> None:
    info = (f"software: {software}\r\nformat: WARC File Format 1.0\r\n"
            f"description: demo corpus generated from the Python standard library\r\n").encode()
    record = writer.create_warc_record(
        "", "warcinfo", payload=io.BytesIO(info), length=len(info),
        warc_content_type="application/warc-fields",
        warc_headers_dict={"WARC-Record-ID": _warc_id(rng), "WARC-Date": _warc_date(i),
                           "WARC-Filename": rel.rsplit("/", 1)[-1]})
    writer.write_record(record)


def write_webpages(b: SourceBuild, out: str) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    ids = random.Random(f"demo-corpus:{b.rng.random()}:warc-ids")
    counter = 0
    for doc in b.docs:
        doc.location = _warc_id(ids)
    total = sum(len(d.text) + WEB_HTML_OVERHEAD for d in b.docs)
    n_files = min(32, max(2, math.ceil(total / (8 * MB))))
    chunks = _split(b.docs, n_files)
    for k, chunk in enumerate(chunks):
        rel = f"{b.folder}/webpages-{k:05d}.warc.gz"
        buf = io.BytesIO()
        writer = WARCWriter(buf, gzip=True)
        _warcinfo(writer, rel, ids, counter, GENERATOR_NAME)
        for doc in chunk:
            counter += 1
            site = SITES[doc.meta["site"]]
            url = (f"https://{site['host']}/{site['section']}/"
                   f"{slugify(doc.meta['title'])}-{counter:06d}.html")
            doc.meta["url"] = url
            body = render_html(doc)
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                               ("Content-Length", str(len(body)))],
                                    protocol="HTTP/1.1")
            record = writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), length=len(body),
                http_headers=http,
                warc_headers_dict={"WARC-Record-ID": doc.location,
                                   "WARC-Date": _warc_date(counter)})
            writer.write_record(record)
            b.raw_bytes += len(body)
            b.documents += 1
        if k == len(chunks) - 1:  # a response whose payload is an image, not text
            counter += 1
            body = b"\x89PNG\r\n\x1a\n" + bytes(ids.randrange(256) for _ in range(2048))
            rid = _warc_id(ids)
            url = f"https://{SITES[0]['host']}/images/banner-{counter:06d}.png"
            http = StatusAndHeaders("200 OK", [("Content-Type", "image/png"),
                                               ("Content-Length", str(len(body)))],
                                    protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), length=len(body), http_headers=http,
                warc_headers_dict={"WARC-Record-ID": rid, "WARC-Date": _warc_date(counter)}))
            b.malformed.append({"file": rel, "position": rid, "kind": "binary_payload",
                                "details": {"url": url, "content_type": "image/png",
                                            "doc_id": document_id(b.name, rid)}})
        _write(out, rel, buf.getvalue())
        b.files.append(rel)


def _wet_conversion(writer: Any, ids: random.Random, counter: int, url: str, rid: str,
                    payload: bytes) -> None:
    writer.write_record(writer.create_warc_record(
        url, "conversion", payload=io.BytesIO(payload), length=len(payload),
        warc_content_type="text/plain",
        warc_headers_dict={"WARC-Record-ID": rid, "WARC-Date": _warc_date(counter),
                           "WARC-Refers-To": _warc_id(ids)}))


def write_web_wet(b: SourceBuild, out: str) -> None:
    from warcio.warcwriter import WARCWriter

    ids = random.Random(f"demo-corpus:{b.rng.random()}:wet-ids")
    for doc in b.docs:
        doc.location = _warc_id(ids)
    total = sum(len(d.text) for d in b.docs)
    n_files = min(8, max(1, math.ceil(total / (8 * MB))))
    chunks = _split(b.docs, n_files)
    counter = 0
    for k, chunk in enumerate(chunks):
        rel = f"{b.folder}/web_wet-{k:05d}.warc.wet.gz"
        buf = io.BytesIO()
        writer = WARCWriter(buf, gzip=True)
        _warcinfo(writer, rel, ids, counter, f"{GENERATOR_NAME} (WET)")

        for doc in chunk:
            counter += 1
            site = SITES[doc.meta["site"]] if doc.meta.get("site") is not None else None
            host = site["host"] if site else "pages.example.com"
            url = f"https://{host}/crawl/{counter:06d}"
            doc.meta["url"] = url
            payload = doc.text.encode("utf-8")
            _wet_conversion(writer, ids, counter, url, doc.location, payload)
            b.raw_bytes += len(payload)
            b.documents += 1
        if k == 0:  # a conversion record with nothing in it
            counter += 1
            rid = _warc_id(ids)
            url = f"https://pages.example.com/crawl/{counter:06d}"
            _wet_conversion(writer, ids, counter, url, rid, b"")
            b.malformed.append({"file": rel, "position": rid, "kind": "empty_record",
                                "details": {"url": url, "doc_id": document_id(b.name, rid)}})
        _write(out, rel, buf.getvalue())
        b.files.append(rel)


def write_books(b: SourceBuild, out: str) -> None:
    for i, doc in enumerate(b.docs):
        doc.location = f"{i:04d}-{slugify(doc.meta['title'], 40)}.txt"
        data = doc.text.encode("utf-8")
        rel = f"{b.folder}/{doc.location}"
        _write(out, rel, data)
        b.files.append(rel)
        b.raw_bytes += len(data)
        b.documents += 1
    n = len(b.docs)
    empty = f"{n:04d}-untitled.txt"
    _write(out, f"{b.folder}/{empty}", b"")
    binary = f"{n + 1:04d}-scan.txt"
    blob = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(b.rng.randrange(256) for _ in range(4096))
    _write(out, f"{b.folder}/{binary}", blob)
    b.files += [f"{b.folder}/{empty}", f"{b.folder}/{binary}"]
    b.malformed.append({"file": f"{b.folder}/{empty}", "position": "0", "kind": "empty_file",
                        "details": {"location": empty}})
    b.malformed.append({"file": f"{b.folder}/{binary}", "position": "0", "kind": "binary_file",
                        "details": {"location": binary, "bytes": len(blob),
                                    "note": "PNG bytes with NULs in a .txt file"}})


def write_code(b: SourceBuild, out: str) -> None:
    for doc in b.docs:
        data = doc.text.encode("utf-8")
        rel = f"{b.folder}/{doc.location}"
        _write(out, rel, data)
        b.files.append(rel)
        b.raw_bytes += len(data)
        b.documents += 1
    location = "legacy/latin1_module.py"
    data = ('# -*- coding: latin-1 -*-\n"""Module de démonstration: données héritées, '
            'encodées en Latin-1."""\n\nGRÜSSE = "Grüße aus Köln"\n').encode("latin-1")
    _write(out, f"{b.folder}/{location}", data)
    b.files.append(f"{b.folder}/{location}")
    b.malformed.append({"file": f"{b.folder}/{location}", "position": "0",
                        "kind": "invalid_utf8_file",
                        "details": {"location": location, "encoding": "latin-1"}})
    b.files.sort()


def write_wikipedia(b: SourceBuild, out: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    for i, doc in enumerate(b.docs):
        doc.location = str(100000 + i)
        doc.meta["url"] = f"https://wiki.example.org/wiki/{doc.meta['title'].replace(' ', '_')}"
    total = sum(len(d.text) for d in b.docs)
    n_files = min(32, max(2, math.ceil(total / (4 * MB))))
    chunks = _split(b.docs, n_files)
    for k, chunk in enumerate(chunks):
        rel = f"{b.folder}/wikipedia-{k:05d}.parquet"
        table = pa.table({"id": [d.location for d in chunk],
                          "title": [d.meta["title"] for d in chunk],
                          "text": [d.text for d in chunk],
                          "url": [d.meta["url"] for d in chunk]})
        buf = io.BytesIO()
        pq.write_table(table, buf)
        _write(out, rel, buf.getvalue())
        b.files.append(rel)
        b.raw_bytes += sum(len(d.text.encode("utf-8")) for d in chunk)
        b.documents += len(chunk)
    # A file from an older export whose text column was called "body".
    rel = f"{b.folder}/wikipedia-{len(chunks):05d}.parquet"
    titles: set[str] = set()
    stale = [_article(b, titles) for _ in range(5)]
    table = pa.table({"id": [f"legacy-{j}" for j in range(5)],
                      "title": [d.meta["title"] for d in stale],
                      "body": [d.text for d in stale],
                      "url": [f"https://wiki.example.org/legacy/{j}" for j in range(5)]})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    _write(out, rel, buf.getvalue())
    b.files.append(rel)
    b.malformed.append({"file": rel, "position": "schema", "kind": "missing_text_column",
                        "details": {"columns": table.column_names, "rows": 5}})


def write_news(b: SourceBuild, out: str) -> None:
    import zstandard

    n = len(b.docs)
    total = sum(len(d.text) for d in b.docs)
    months = min(24, max(2, math.ceil(total / (1.5 * MB))))
    days = months * 30
    by_month: dict[str, list[dict[str, Any]]] = {}
    for i, doc in enumerate(b.docs):
        doc.location = f"news-{i:07d}"
        day = BASE_TIME.date() + dt.timedelta(days=i * days // n)
        host = "wire.example.net" if doc.meta.get("syndicated") else "news.example.org"
        slug = slugify(doc.meta.get("title") or doc.text[:40], 40)
        record = {"id": doc.location, "text": doc.text,
                  "url": f"https://{host}/{day:%Y/%m/%d}/{slug}-{i}",
                  "date": day.isoformat()}
        by_month.setdefault(f"{day:%Y-%m}", []).append(record)
    rng = b.rng
    for k, (month, records) in enumerate(by_month.items()):
        lines = [json.dumps(r, ensure_ascii=False).encode("utf-8") + b"\n" for r in records]
        b.raw_bytes += sum(len(r["text"].encode("utf-8")) for r in records)
        b.documents += len(records)
        if k % 2 == 0:
            rel = f"{b.folder}/{month}.jsonl"
            if k == 0:
                bad = [
                    ("broken_json", (b'{"id": "news-broken-0001", "text": "The council met on '
                                     b'Tuesday to discuss the bridge, "url": \n')),
                    ("missing_text_field", json.dumps(
                        {"id": "news-notext-0001", "url": "https://news.example.org/x",
                         "date": records[0]["date"]}).encode() + b"\n"),
                    ("invalid_utf8", b'{"id": "news-badutf8-0001", "text": "Caf\xe9 prices rose '
                                     b'\xff\xfe again this week.", "url": '
                                     b'"https://news.example.org/y", "date": "'
                                     + records[0]["date"].encode() + b'"}\n'),
                ]
                for kind, line in bad:
                    lines.insert(rng.randrange(1, len(lines) + 1), line)
                for kind, line in bad:
                    b.malformed.append({"file": rel, "position": f"line {lines.index(line) + 1}",
                                        "kind": kind, "details": {"line": lines.index(line) + 1}})
            data = b"".join(lines)
        else:
            rel = f"{b.folder}/{month}.jsonl.zst"
            data = zstandard.ZstdCompressor(level=3).compress(b"".join(lines))
        _write(out, rel, data)
        b.files.append(rel)


# ---------------------------------------------------------------------------------------------
# Boilerplate accounting, ground truth, spec and summary.

def count_boilerplate(builds: dict[str, SourceBuild]) -> None:
    web = builds["webpages"]
    for site_index, site in enumerate(SITES):
        docs = sum(1 for d in web.docs if d.meta["site"] == site_index)
        for where, line in (("nav", " | ".join(site["nav"])), ("cookie_banner", site["cookie"]),
                            ("footer", site["footer"][0]), ("footer", site["footer"][1])):
            web.boilerplate.append({"line": line, "where": where, "site": site["host"],
                                    "documents": docs, "in": "html"})
    wet = builds["web_wet"]
    for site_index, site in enumerate(SITES):
        for where, line in (("nav", " | ".join(site["nav"])), ("cookie_banner", site["cookie"]),
                            ("footer", site["footer"][0]), ("footer", site["footer"][1])):
            docs = sum(1 for d in wet.docs if line in d.text.split("\n"))
            wet.boilerplate.append({"line": line, "where": where, "site": site["host"],
                                    "documents": docs, "in": "text"})
    conv = builds["conversations"]
    for sig in dict.fromkeys(SIGNATURES.values()):
        docs = sum(1 for d in conv.docs + conv.readable_extra if sig in d.text.split("\n"))
        conv.boilerplate.append({"line": sig, "where": "forum_signature", "documents": docs,
                                 "in": "text"})
    news = builds["news"]
    docs = sum(1 for d in news.docs if NEWS_FOOTER in d.text.split("\n\n"))
    news.boilerplate.append({"line": NEWS_FOOTER, "where": "footer", "documents": docs,
                             "in": "text"})


def _resolve(value: Any) -> Any:
    if isinstance(value, Doc):
        return value.ref()
    if isinstance(value, dict):
        return {k: _resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v) for v in value]
    return value


def ground_truth(builds: dict[str, SourceBuild], seed: int, size_mb: float) -> dict[str, Any]:
    planted, boilerplate, malformed = [], [], []
    counts: dict[str, int] = {}
    for b in builds.values():
        for item in b.truth:
            doc = item["doc"]
            planted.append({"source": b.name, "location": doc.location, "doc_id": doc.doc_id,
                            "category": item["category"], "details": _resolve(item["details"])})
            counts[item["category"]] = counts.get(item["category"], 0) + 1
        boilerplate += [{"source": b.name, **entry} for entry in b.boilerplate]
        # file: relative to the corpus folder; file_in_source: relative to the source's folder
        # (what the readers report in dead letters).
        malformed += [{"source": b.name, **entry,
                       "file_in_source": entry["file"][len(b.folder) + 1:]}
                      for entry in b.malformed]
    return {"generator": GENERATOR_NAME, "generator_version": GENERATOR_VERSION,
            "seed": seed, "size_mb": size_mb,
            "counts": dict(sorted(counts.items())),
            "planted": planted, "boilerplate": boilerplate, "malformed": malformed}


_NOT_WORD = re.compile(r"[\W_]+")


def _eval_words(text: str) -> list[str]:
    """The words decontamination compares (pipeline.decontamination.normalize's definition:
    lower-cased, non-letters/digits as spaces); repeated here to keep this module Beam-free."""
    return _NOT_WORD.sub(" ", text.lower()).split()


def build_eval_set(builds: dict[str, SourceBuild], seed: int
                   ) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """An evaluation set for decontamination, and its ground truth.

    `EVAL_CONTAMINATED` texts each copy a `EVAL_SPAN_WORDS`-word span from the middle of a
    paragraph of one ordinary document of `EVAL_COPY_FROM`; a span is used only if every one
    of its 13-word windows occurs in no other document of the corpus (prose is recombined
    from shared sentences, so most spans are not unique). The other texts are seeded random
    word sequences from the pool's vocabulary, a few of them too short to be matched. Runs after
    the writers with its own RNG, so the rest of the corpus does not change.
    """
    rng = random.Random(f"demo-corpus:{seed}:eval-set")
    everything = [d for b in builds.values() for d in b.docs + b.readable_extra]
    corpus = "\n" + "\n".join(" " + " ".join(_eval_words(d.text)) + " "
                               for d in everything) + "\n"
    candidates = [d for name in EVAL_COPY_FROM for d in builds[name].ordinary()
                  if not d.modified and not d.frozen]
    rng.shuffle(candidates)
    chosen: list[tuple[Doc, str]] = []
    for doc in candidates:
        if len(chosen) == EVAL_CONTAMINATED:
            break
        paragraphs = [p for p in doc.text.split("\n\n")
                      if len(p.split()) >= EVAL_SPAN_WORDS + 8 and "\n" not in p.strip()]
        if not paragraphs:
            continue
        raw = rng.choice(paragraphs).split()
        start = rng.randrange(4, len(raw) - EVAL_SPAN_WORDS - 3)
        span = " ".join(raw[start:start + EVAL_SPAN_WORDS])
        words = _eval_words(span)
        if len(words) < EVAL_SPAN_WORDS or any(c.isdigit() for c in span) or "@" in span:
            continue  # digits could be redacted as PII, changing the document's words
        windows = [" " + " ".join(words[i:i + 13]) + " " for i in range(len(words) - 12)]
        if all(corpus.count(w) == 1 for w in windows):
            chosen.append((doc, span))
    vocab = builds["books"].pool.vocab
    texts = [(f"Which passage continues: {span}", doc) for doc, span in chosen]
    for i in range(EVAL_UNRELATED):
        n = 5 if i % 8 == 0 else rng.randint(14, 30)  # every eighth is too short to match
        texts.append((" ".join(rng.choice(vocab) for _ in range(n)).capitalize() + "?", None))
    rng.shuffle(texts)
    records = [{"id": f"{EVAL_SET}-{i:04d}", "text": t} for i, (t, _) in enumerate(texts)]
    truth = {"eval_set": EVAL_SET, "file": EVAL_FILE, "ngram": 13,
             "texts": len(records), "unrelated": len(records) - len(chosen),
             "contaminated": [{**doc.ref(), "eval_id": records[i]["id"]}
                              for i, (_, doc) in enumerate(texts) if doc is not None]}
    return records, truth


def sources_yaml(seed: int, size_mb: float) -> str:
    fields = "text_field: text\n    id_field: id\n    url_field: url\n"
    entries = {
        "conversations": ('["conversations/*.jsonl.gz"]', fields),
        "webpages": ('["webpages/*.warc.gz"]', ""),
        "web_wet": ('["wet/*.warc.wet.gz"]', ""),
        "books": ('["books"]', "extensions: [.txt]\n"),
        "code": ('["code"]', "extensions: [.py]\n"),
        "wikipedia": ('["wikipedia/*.parquet"]', fields),
        "news": ('["news/*.jsonl", "news/*.jsonl.zst"]', fields),
    }
    command = f"python -m launch.demo_corpus --size_mb {size_mb:g} --seed {seed}"
    out = [f"# Prep spec for the demo corpus written by `{command}`.",
           "# Paths are relative to this file. ground_truth.json lists what was planted.",
           f"seed: {seed}", "sources:"]
    for name, role, fmt, _ in SOURCES:
        paths, extra = entries[name]
        block = (f"  - name: {name}\n    role: {role}\n    format: {fmt}\n    paths: {paths}\n")
        if extra:
            block += "    " + extra
        if role != "code":
            block += "    languages: [en]\n"
        out.append(block.rstrip("\n"))
    out += [
        "# Corpus stages (after exact and near dedup, which are on by default).",
        "quality_classifier:        # GLaM: curated sources vs raw web pages, Pareto sampling",
        "  positive_sources: [books, wikipedia]",
        "  negative_sources: [webpages, web_wet]",
        "  apply_to: [webpages, web_wet]",
        "  keep: pareto",
        "  pareto_alpha: 2.0        # not GLaM's 9: see BUILD.md (demo web pages score ~0.45)",
        f"  seed: {seed}",
        "decontamination:           # 13-gram overlap with the evaluation set",
        f"  eval_sets: {{{EVAL_SET}: {EVAL_FILE}}}",
        "  action: remove",
    ]
    return "\n".join(out) + "\n"


def _disk_bytes(out: str, files: list[str]) -> int:
    return sum(os.path.getsize(os.path.join(out, *rel.split("/"))) for rel in files)


def _prepare_output(out: str) -> None:
    if os.path.isdir(out) and os.listdir(out):
        if not os.path.exists(os.path.join(out, "corpus.json")):
            raise FileExistsError(f"{out} is not empty and holds no demo corpus (corpus.json); "
                                  "refusing to overwrite it; pick an empty or new folder")
        for folder in OUTPUT_FOLDERS:
            shutil.rmtree(os.path.join(out, folder), ignore_errors=True)
        for name in OUTPUT_FILES:
            path = os.path.join(out, name)
            if os.path.exists(path):
                os.remove(path)
    os.makedirs(out, exist_ok=True)


def generate(output_dir: str, size_mb: float = 8.0, seed: int = 0) -> dict[str, Any]:
    """Writes the demo corpus into output_dir and returns its summary (also in corpus.json)."""
    if not size_mb > 0:
        raise ValueError(f"size_mb must be positive, got {size_mb}")
    pool = build_pool()
    _prepare_output(output_dir)
    target = size_mb * MB
    builds = {name: SourceBuild(name, role, fmt, folder, seed, pool)
              for name, role, fmt, folder in SOURCES}
    budgets = {name: SHARES[name] * target for name in builds}
    # Code first: the stdlib caps it, and what it cannot fill goes to the conversations.
    budgets["conversations"] += build_code(builds["code"], budgets["code"])
    build_conversations(builds["conversations"], budgets["conversations"])
    build_webpages(builds["webpages"], budgets["webpages"])
    build_web_wet(builds["web_wet"], budgets["web_wet"])
    build_books(builds["books"], budgets["books"])
    build_wikipedia(builds["wikipedia"], budgets["wikipedia"])
    build_news(builds["news"], budgets["news"])
    plant_foreign(builds, seed)
    plant_cross_source(builds)

    writers = {"conversations": write_conversations, "webpages": write_webpages,
               "web_wet": write_web_wet, "books": write_books, "code": write_code,
               "wikipedia": write_wikipedia, "news": write_news}
    for name, b in builds.items():
        writers[name](b, output_dir)
    count_boilerplate(builds)

    truth = ground_truth(builds, seed, size_mb)
    eval_records, truth["contamination"] = build_eval_set(builds, seed)
    _write(output_dir, EVAL_FILE, _jsonl(eval_records))
    sources = {}
    for name, b in builds.items():
        sources[name] = {"role": b.role, "format": b.format, "folder": b.folder,
                         "files": b.files, "documents": b.documents, "raw_bytes": b.raw_bytes,
                         "disk_bytes": _disk_bytes(output_dir, b.files),
                         "planted": sum(1 for t in b.truth), "malformed": len(b.malformed)}
    summary = {
        "generator": GENERATOR_NAME, "generator_version": GENERATOR_VERSION,
        "seed": seed, "size_mb": size_mb, "target_raw_bytes": int(target),
        "raw_bytes": sum(s["raw_bytes"] for s in sources.values()),
        "disk_bytes": sum(s["disk_bytes"] for s in sources.values()),
        "documents": sum(s["documents"] for s in sources.values()),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "pool": {"sentences": len(pool.sentences), "units": len(pool.units),
                 "docstrings": pool.docstrings, "text_files": pool.text_files,
                 "code_files": len(pool.code_files)},
        "sources": sources,
        "planted": truth["counts"],
        "malformed": len(truth["malformed"]),
        "boilerplate_lines": len(truth["boilerplate"]),
        "eval_set": {"file": EVAL_FILE, "texts": len(eval_records),
                     "contaminated_documents": len(truth["contamination"]["contaminated"])},
    }
    with open(os.path.join(output_dir, "ground_truth.json"), "w", encoding="utf-8") as f:
        json.dump(truth, f, ensure_ascii=False, indent=1)
        f.write("\n")
    with open(os.path.join(output_dir, "sources.yaml"), "w", encoding="utf-8") as f:
        f.write(sources_yaml(seed, size_mb))
    with open(os.path.join(output_dir, "corpus.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, ensure_ascii=False, indent=1)
        f.write("\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m launch.demo_corpus",
        description="Write the deterministic demo raw corpus (7 sources, 6 formats, planted "
                    "duplicates/junk/PII and a ground truth) built from the Python stdlib.")
    parser.add_argument("--output_dir", required=True, help="folder to write (created)")
    parser.add_argument("--size_mb", type=float, default=8.0,
                        help="approximate raw (uncompressed) size in 10^6 bytes (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="RNG seed (default 0)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        summary = generate(args.output_dir, size_mb=args.size_mb, seed=args.seed)
    except (FileExistsError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    print(f"wrote {summary['documents']} documents, {summary['raw_bytes'] / MB:.1f} MB raw, "
          f"{summary['disk_bytes'] / MB:.1f} MB on disk, "
          f"{sum(summary['planted'].values())} planted items, {summary['malformed']} malformed "
          f"inputs to {args.output_dir} in {elapsed:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
