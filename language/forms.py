"""The form of a candidate's message: is it worded as a question, a request, a yes or no?

Facts about wording only, in English and Chinese (interrogative words and particles, statements of
curiosity, a question trailing a substantial answer, words that name a command); what the message
*is* in the conversation is decided from these facts, the classifier and the context
(`bot.policy`). Pure: text in, facts out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from language.text import CJK, count_words

# --- English -------------------------------------------------------------------------------------

_EN_QUESTION_START = re.compile(
    r"^(?:so|and|but|ok|okay|um+|uh+|hi|hey|hello|sorry|also|btw|quick question|one more thing|"
    r"just wondering|wondering|excuse me|oh|well|wait|hold on|hang on|by the way)?[\s,.:;!-]*"
    r"(?:what(?:'s|s| is| are| about| kind| sort| if| happens| counts)?|how(?:'s| much|"
    r" many| long| soon| often| do| does| is| are| will| would| can)?|"
    r"when|where|who(?:'s|se)?|whom|which|why|whats|hows|wheres|whos|wat(?:'s|s| is| are)?|wut|wht|"
    r"hw (?:much|many|long|do|does|is|are|can|will)|r (?:there|these|those|the|we|you)|"
    r"is (?:there|it|this|that|the|my|your|a)|are (?:there|you|the|my|these|those|we)|"
    r"(?:is|are|r) \w+ (?:required|included|needed|expected|possible|allowed|available|paid|covered|"
    r"provided|mandatory|offered)|"
    r"does \w+|do (?:you|u|ya|i|the|it|this|that|we|your|my"
    r"|northwind|anyone|they|people|recruiters|interviewers|managers|hiring managers|employees|staff|hr|"
    r"humans|candidates|engineers|new hires|interns)|did (?:you|u|i|the)|"
    r"(?:are|r) (?:u|ya)|(?:can|could|will|would|should) (?:u|ya)|"
    r"can (?:i|you|we|someone|my|it|a|an|this|that|the)|could (?:i|you|we|it)|may i|"
    r"will (?:i|you|there|the|my|it|this|someone|somebody|anyone|anybody|a|an|they|we|people|hr)|"
    r"would (?:i|you|it|there|a|an|my|this|that)|should i|shall i|am i|any (?:idea|chance|news|info|"
    r"word|update|benefits?|bonus|training|budget|perks?|remote|options?|opportunit\w*|possibilit\w*|"
    r"flexib\w*|plans?|support|allowance|stipend|equity|relocation)|"
    r"anything (?:about|on)|is it ok(?:ay)?|have you|has (?:the|my|anyone))\b",
    re.IGNORECASE,
)
_EN_CURIOUS = re.compile(
    r"\b(?:curious (?:about|to know|whether|if|how|what)|i'?d (?:like|love) to (?:know|"
    r"hear|learn|understand|ask)|"
    r"i (?:want|wanted|wanna|would like) to (?:know|ask|understand|check|find out)|"
    r"i(?:'m| am) (?:wondering|curious|interested in (?:knowing|hearing|the))|i was wondering|i wonder|"
    r"wondering (?:about|if|whether|how|what)|"
    r"(?:can|could) you (?:tell|explain|share|clarify|let me know|give me)|tell me (?:more )?about|"
    r"(?:any|some) (?:info|information|details) (?:on|about)|need (?:to know|info|"
    r"information|details) (?:about|on|whether|if|how|what|when|where|who|which|why)|"
    r"question (?:about|on|regarding)|quick question|please (?:explain|clarify|tell me)|"
    r"let me know (?:if|whether|what|how|when)|i'?d appreciate (?:knowing|info|some))\b"
    r"|^(?:also |just |really |very |and )?interested in (?:knowing|hearing|finding out|learning more)\b",
    re.IGNORECASE,
)
_EN_CLARIFY = re.compile(
    r"\b(?:what do (?:you|u|ya) mean|what does .{1,40} mean|what(?:'s| is) meant by|meaning of|"
    r"what (?:counts|qualifies) as|which (?:\w+ )?(?:counts|qualifies)\b|does (?:it|that"
    r"|this) (?:have|need) to be|does .{1,40} count|"
    r"(?:can|could|may|should) (?:it|the example|my example|i (?:use|talk about|pick|"
    r"choose|give|answer|describe|share|mention)) .{0,60}"
    r"|is it ok(?:ay)? (?:if|to)|(?:is|would) (?:it|that) (?:be )?(?:ok|okay|fine|acceptable|allowed)|"
    r"do (?:you|u) mean|(?:you|u) mean|by .{1,30} do you mean|"
    r"how (?:long|detailed|specific) should (?:my|the|i)|"
    r"should (?:i|it|the answer) (?:be|focus|include|talk|describe|use|give)|"
    r"does (?:it|this|the question) (?:have to|need to|mean|refer|include)|"
    r"what kind of (?:example|situation|project|story|answer)|any (?:example|situation|"
    r"project) (?:is )?(?:ok|fine)|"
    r"(?:personal|non[- ]work|university|school|college|internship|side project|previous job|"
    r"volunteer).{0,30}(?:ok|count|fine|allowed)|"
    r"what if (?:i|it|my \w+|the \w+|they|there) (?:never|don'?t|didn'?t|haven'?t|hasn'?t|wasn'?t|weren'?t|"
    r"isn'?t|was|were|is|only|just|had|have)\b)",
    re.IGNORECASE,
)
_EN_ABOUT_ANSWER = re.compile(
    r"^(?:so|and|ok|okay|sorry|hmm+|um+|also|just to check)?[\s,]*(?:do |would |are |r )?(?:you|u|ya) "
    r"(?:\w+ )?(?:want|need|prefer|expect|wanna|looking for|after|rather|interested in|like)\b.{1,80}\bor\b"
    r"|\b(?:is it|would it be) (?:better|best|ok|okay|fine|enough) (?:to|if i)\b.{1,80}\bor\b"
    r"|^any (?:particular|specific|preferred) (?:format|length|structure|way)"
    r"|\b(?:for|in) (?:the|my) answer\?"
    r"|\b(?:want|need|like|expect|prefer) me to\b"
    r"|\b(?:should|shoud|shld|shud|shall|must|can|could|may|do"
    r"|does) (?:i|we|it) (?:\w+ ){0,2}(?:talk about|talk through|"
    r"describe|focus|mention|include|go into|explain|answer|pick|choose|give|share|start with|cover|"
    r"write|list|name|walk (?:you )?through|stick to|keep it|go with|limit)\b"
    r"|\b(?:should|shoud|shld|shud|does|do|must|can|could|would|may) (?:the|my) "
    r"(?:answer|example|story|response)\b"
    r"|\b(?:must|should|does|do|can|could|has|would) it (?:have to |need to |only )?(?:be|include|cover)\b"
    r"|\b(?:am i|are we|r we) (?:supposed|expected|meant|allowed) to\b"
    r"|^(?:so |and |ok |okay )?is (?:it|this|the question|this question) (?:more |mainly |only |just )?"
    r"(?:about|asking)\b.{1,60}\bor\b"
    r"|\b(?:talking|writing|describing|using|mentioning|picking|choosing) .{1,60}\b(?:be )?"
    r"(?:ok|okay|fine|count|work)\b"
    r"|\b(?:do|would|does) (?:you|u|it|the answer) (?:need"
    r"|require|want) (?:me to \w+ |to (?:include|have|mention) )?"
    r"(?:\w+ )?(?:numbers|figures|metrics|details|data|names?|specifics|examples?|dates|code)\b"
    r"|\bhow (?:much|many) (?:detail|depth|context|background|examples?|words)\b"
    r"|\b(?:level|amount|kind) of (?:detail|depth)\b|\brough (?:idea"
    r"|estimate|number)s? (?:is |are )?(?:ok|fine|enough)\b"
    r"|\bhow (?:long|short|detailed|deep|specific|technical) (?:should|do you want|can|is it)\b"
    r"|\b(?:one|a single|1) (?:example|story|case) or\b|\bthe whole story\b"
    r"|^(?:is|would|will|does) (?:a|an|my|this|that|one) .{1,80}\b(?:ok|okay|work|count|fine|acceptable|do|"
    r"qualify|be enough)\b"
    r"|\bdoes (?:the |my |it |this |that )?\w+ (?:have to|need to|must) be\b",
    re.IGNORECASE,
)
_EN_HIRING = re.compile(
    r"\b(?:someone|somebody|a person|people|candidates?|applicants?|full[- ]?stack (?:dev|person|engineer)|"
    r"(?:this|the) (?:role|job|position|team|company)|hire|hiring|salary|visa|office|remote)\b",
    re.IGNORECASE,
)
"""Words of a question about the job, not about how to answer ("do you want someone who ...")."""
_EN_YES_NO_REPLY = re.compile(
    r"^(?:(?:um+|uh+|hmm+|well|honestly|tbh|to be honest|actually|so|ok|okay)[\s,.]+)*"
    r"(?:yes|yeah|yea|yep|yup|ya|sure|of course|definitely|absolutely|certainly|indeed|i have|i do|i did|"
    r"correct|right|kind of|kinda|sort of|a (?:bit|little)|somewhat|sometimes|occasionally|once|twice|"
    r"a (?:couple|few) (?:of )?times|many times|lots of times|plenty|often|not really|not much|not many|"
    r"not often|not yet|not exactly|not that (?:i|much|many|often)|not at all|not a lot|nope|nah|no|never|"
    r"none|i haven'?t|i have not|i don'?t|i didn'?t|haven'?t|rarely|hardly|seldom)\b",
    re.IGNORECASE,
)
_EN_ACK = re.compile(
    r"^(?:(?:yes|yeah|yea|yep|yup|ya|sure|ok|okay|k|right|correct|of course|definitely|absolutely|"
    r"certainly|i (?:have|do|did)|got it|gotcha|alright|cool|fine|sure thing|no problem|no worries|"
    r"sounds good|"
    r"understood|noted|makes sense|all good|great|perfect|nice)[\s,.!~]*)+$",
    re.IGNORECASE,
)
"""A bare yes or okay: it acknowledges; it says nothing about the candidate's experience."""
_EN_YES_NO_QUESTION = re.compile(
    r"^(?:and |so |also )?(?:have|has|had|do|does|did|are|were|was|is|would|could|can|will|"
    r"shall|should)\s+(?:you|there|it|your)\b",
    re.IGNORECASE,
)
_EN_SKIP = re.compile(
    r"\b(?:skip|next (?:question|one)|move on|moving on|pass on|go on to the next|move to the next|"
    r"(?:go|move|jump|skip) (?:on )?(?:ahead|to the (?:next|following)(?: one| question)?)|^s+k+i+p+\b|"
    r"(?:come|go) back to (?:it|this|this one|that|that one"
    r"|this question) later|^pass\b|^next\b|another question|"
    r"different question)",
    re.IGNORECASE,
)
_EN_DECLINE = re.compile(
    r"\b(?:(?:i'?d|i would) (?:rather|prefer) not|prefer not to|(?:don'?t|do not) (?:want|"
    r"wish|feel comfortable) to "
    r"(?:answer|talk|share|discuss|say|go into|get into|elaborate)|not comfortable (?:answering|"
    r"sharing|talking|discussing)|"
    r"rather not (?:answer|say|talk|share|discuss|go into|get into)|no comment|can'?t (?:share|"
    r"disclose|talk about|discuss|go into)|"
    r"not (?:allowed|able) to (?:share|disclose|discuss|talk about)|(?:confidential|under (?:an )?nda))",
    re.IGNORECASE,
)
_EN_COMMAND_CUES: dict[str, re.Pattern[str]] = {
    "pause": re.compile(
        r"\b(?:pause|break|later|moment|minute|min|mins|sec|second|hold on|hang on|wait|brb|step away|"
        r"come back|continue (?:later|tomorrow)|stop (?:here|now|for)|afk|gotta go|need to go|call)\b",
        re.IGNORECASE,
    ),
    "skip": _EN_SKIP,
    "repeat": re.compile(
        r"\b(?:repeat|again|what was|say that|didn'?t (?:catch|see|get)|missed|restate|rephrase|"
        r"what did you|the question|scroll|what\?|huh|pardon|come again|one more time)\b",
        re.IGNORECASE,
    ),
    "resume": re.compile(
        r"\b(?:continue|go on|resume|back|ready|let'?s go|carry on|proceed|start again|i'?m here)\b",
        re.IGNORECASE,
    ),
    "goodbye": re.compile(r"\b(?:bye|goodbye|see you|good night|later|cya|that'?s all)\b", re.IGNORECASE),
    "withdraw": re.compile(
        r"\b(?:withdraw(?:ing|n)?|quit|cancel|stop the interview|not interested|no longer|give up|"
        r"end (?:the|this) interview|exit)\b",
        re.IGNORECASE,
    ),
    "human": re.compile(
        r"\b(?:human|person|someone|recruiter|hr|agent|real|people|staff|talk to|speak (?:to|with))\b",
        re.IGNORECASE,
    ),
    "retry": re.compile(
        r"\b(?:again|retry|redo|re-?answer|another (?:go|shot|try|attempt))\b", re.IGNORECASE
    ),
    "delete_my_data": re.compile(r"\b(?:delete|erase|remove|wipe)\b", re.IGNORECASE),
}

# --- Chinese -------------------------------------------------------------------------------------

_ZH_QUESTION = re.compile(
    r"(?:吗|嘛|(?<![这那多要甚])么|呢|多少|怎么|怎样|怎么样|如何|是否|有没有|能不能|可不可以|可否|会不会|是不是|要不要|算不算|行不行|"
    r"好不好|对不对|也行|是指|指的是|"
    r"需不需要|用不用|请问|想了解|想知道|想问|(?<!去)问一?下|好奇|什么|啥|哪|几[个天年月周轮次点位份道题场步]|为什么|为啥|"
    r"多久|多长|多大|多高|多远|何时|谁|咨询|了解一下|介绍一下|说说|讲讲)"
)
_ZH_CURIOUS = re.compile(
    r"(?:想了解|想知道|想问|(?<!去)问一?下|好奇|请问|咨询|了解一下|介绍一下|说说.{0,6}(?:情况|吧))"
)
_ZH_CLARIFY = re.compile(
    r"(?:是指|指的是|指什么|什么意思|啥意思|意思是|是说|算不算|算吗|也行吗|也可以吗|也算吗|也行不行|也算不算|可以是|可不可以是|能不能是|能不能用|可以用|"
    r"可以讲|可以说|必须是|一定要|一定得|需要是|要求是|"
    r"举.{0,4}例子|什么样的(?:例子|经历|项目|情况)|多详细|多长合适|讲多久|说多少|"
    r"(?:答案|回答|回复)(?:大概)?(?:要|需要|得|应该)?(?:多长(?!时间)|多少字|多详细|写多少|写多长)"
    r"|也(?:可以|行|算|没问题)(?:的)?吧[\s？?。!！~～]*$)"
)
_PUZZLED = re.compile(
    r"\b(?:not sure|don'?t|do not|didn'?t|did not|can'?t) (?:i |that i )?(?:really |quite |fully |totally )?"
    r"(?:understand|get|follow) (?:the|this|that|your) question|"
    r"\b(?:not sure|don'?t|do not|didn'?t) (?:i |that i )?(?:really |quite )?(?:understand|get|know) "
    r"what (?:you mean|you'?re asking|the question)|"
    r"(?:不太?|没太?|看不|没看|不是很)(?:理解|明白|懂)(?:这个|这道|这|你的|题目的?)?(?:问题|题目|题|意思)|"
    r"(?:这个问题|这道题|这题|题目)(?:我)?(?:有点|不太?|没太?|看不|没看|不是很)(?:理解|明白|懂)",
    re.IGNORECASE,
)
"""The candidate does not understand the question ("not sure I understand the question", "没太懂这个
问题"): explain it (seeing it again as it was would not help)."""
_CLARIFY_TOPIC = re.compile(
    r"\b(?:(?:this|the|that) question|in this context|mean here)\b|"
    r"^(?:so |and |ok |okay )?(?:what(?:'s|s| is| are| does)|wat(?:'s|s| is)?) .{1,40}\bhere\b|"
    r"这道题|这题|这个问题|题目|题里|这里的|这里说的",
    re.IGNORECASE,
)
"""Names the question ("this question", "题目"): a question about it only when worded as a question
("is this question about ...?"); "这个问题我和领导争了很久" tells the answer."""
_ZH_CLARIFY_ASKS = re.compile(
    r"是指|指的是|指什么|什么意思|啥意思|意思是|算不算|算吗|可不可以是|能不能是|能不能用|多详细|多长合适|讲多久|说多少|"
    r"也(?:可以|行|算|没问题)(?:的)?吧[\s？?。!！~～]*$|"
    r"(?:答案|回答|回复)(?:大概)?(?:要|需要|得|应该)?(?:多长(?!时间)|多少字|多详细|写多少|写多长)"
)
"""Chinese wordings of a question about the question that ask by themselves; the others ("可以讲",
"一定要") ask in a short message or one worded as a question."""
_ZH_ANSWER_VERB = r"(?:讲|说|写|谈|聊|举|提|贴|列|描述|介绍|回答|展开|说明|分享|给(?![我你]))"
"""Verbs of saying: what a candidate asks about when they ask how to answer ("要讲…还是…")."""
_ZH_ABOUT_ANSWER = re.compile(
    r"(?:要|需要|需不需要|要不要|用不用|应该|应不应该|得|该|可以|可不可以|能|能不能|是|是要|就)"
    r"(?:[把从][^，。？?!！]{1,8}|[\u4e00-\u9fff]{0,2}?)"
    + _ZH_ANSWER_VERB
    + r"|"
    + _ZH_ANSWER_VERB
    + r"[^，。？?!！]{0,20}(?P<asks>可以吗|可以么|可以不|行吗|行么|行不行|行不|ok吗|算吗|算不算|合适吗|好吗|"
    r"会不会更好|(?:更|比较)好吗)"
)
_ZH_ALTERNATIVE = re.compile(
    r"还是|多[少长久细详]|几个例子|吗|么|行不行|可不可以|要不要|需不需要|用不用|怎么|哪|什么|啥"
)
"""An about-the-answer frame is a question only with an alternative or a question word."""
_ZH_ABOUT_US = re.compile(
    r"(?:你|您|你们|贵司|贵公司|公司|面试官|HR|hr)(?:能|可以|能不能|可不可以|先|再|来|帮忙)?"
    + _ZH_ANSWER_VERB
    + r"|给我"
    + _ZH_ANSWER_VERB
    + r"|会(?:说|讲|写)|(?:说|讲)(?:英语|英文|中文|普通话|日语)(?!回答)|岗位|职位|入职|薪|福利|待遇"
)
"""The bot or the company would do the saying ("你们能介绍一下吗"), or the question is about the job."""
_ZH_YES_NO_REPLY = re.compile(
    r"^(?:(?:嗯+|呃+|额+|唔|这个|那个|其实|应该|可能|大概|好像|感觉|说实话|老实说|真的?|确实|也|都|就|"
    r"基本上?|目前|暂时|之前|以前|还|挺|蛮|稍微)[\s,，、.。…]*)*"
    r"(?:是的?|对的?|嗯+|有(?![事人空点没])|当然|肯定|算是|算有|做过|参与过|遇到过|碰到过|带过|经历过|干过|"
    r"用过|学过|处理过|搞过|没有|木有|没得|没|不太|蛮多|不算|不多|不怎么|不是很|还没|从来没|从没|几乎没|很少|一点|偶尔|"
    r"经常|一次|一两次|两次|几次|好几次|很多次|挺多|不少|还好|还行|一般|还可以|凑合|马马虎虎)"
)
_ZH_ACK = re.compile(
    r"^(?:(?:是的?|对的?|嗯+|好的?|好滴|好嘞|好哒|好吧|行吧?|可以|ok|OK|收到|明白|了解|知道|懂|没问题|有的?|当然|肯定)"
    r"[了啦啊呀哈嘞]?[\s,，.。!！~～]*)+$"
)
"""A bare yes or okay (是的, 好的, 嗯嗯)."""
_ZH_INDEFINITE = re.compile(
    r"(?<!有)没有?(?:什么|啥|多少|几[个次回]?|怎么|哪)|(?<!有)没有?[\u4e00-\u9fff]{1,3}[过到](?:什么|啥|多少|几[个次回]?)"
    r"|不是(?:什么|啥)|不[出到起](?:来)?(?:什么|啥)|(?:过|了|好)几(?=[个次回天年月周道题场步])|不怎么|什么都|啥都|哪儿?都"
    r"|怎么都|谁都|谁也|或多或少|多少(?=有|会|懂|了解|做过)"
)
"""Question words used as indefinites ("没啥特别的", "没怎么做过"): no question."""
_ZH_YES_NO_QUESTION = re.compile(
    r"(?:是否|有没有|有无|是不是|能不能|会不会|过吗|了吗|吗[？?。]?$|吗[？?]|否[？?]?$)"
)
_ZH_SKIP = re.compile(
    r"(?:跳过(?=$|[吧吗呀啊嘛呢好行，。,.!！?？\s]|这|此|本|一下|它|算了|可以|行)|下一题|下一个问题"
    r"|换一题|换个问题|换一个问题|略过|先过|过吧|(?:能不能|可以|可不可以)不(?:答|回答)|不(?:答"
    r"|回答)(?:行吗|可以吗)|跳了吧|跳掉|下一道|(?:这题|这道题|这个问题)我?(?:放弃|算了)|(?:这题|这道题"
    r"|这道|这个|这一题)\s*(?:先|就)?\s*(?:pass|skip)|(?:换|跳到)(?:下)?一(?:个|题)(?=吧|呗|$|问题|行|可以|好)"
    r"|下一个(?=吧|呗|$)|下个问题|后面再答|待会再答|回头再答|"
    r"先不答|不答这|先不回答|不回答这|这题不答|这道题不答|这题我不答|这题就不|这题先|先放一放|先放着|(?:后面|最后)再回答"
    r"|(?:这题|这道题?|这个问题|这一题)我?(?:先)?(?:回头|后面|待会儿?|等会儿?|晚点|最后|之后)再(?:说|答|回答|讲|补|来)"
    r"|先(?:答|回答|做)(?:后面|下面|下一)(?:的|题|道|个)?)"
)
_ZH_DECLINE = re.compile(
    r"(?:不方便(?:说|透露|讲|回答|谈)|(?:就|我|还是)不(?:答|回答)了|不想(?:回答|说|谈|讲|聊|透露)|不太想(?:回答|说|谈|讲|聊)|不愿意(?:回答|说|谈|讲)|"
    r"保密|不能透露|不好说|无可奉告|不予置评|涉及隐私)"
)
_ZH_COMMAND_CUES: dict[str, re.Pattern[str]] = {
    "pause": re.compile(
        r"(?:暂停|休息|等一下|等下|等等|稍等|等会|一会儿?|待会|先停|歇|有事|离开|晚点|明天再|回来再|接个电话)"
    ),
    "skip": _ZH_SKIP,
    "repeat": re.compile(
        r"(?:重复|再说|再问|再发|没看清|没看到|没听清|题目|问题是什么|刚才|刚刚|什么题|啥题|再来一遍|重新发|"
        r"问的(?:是)?(?:啥|什么)|问(?:的)?啥|来着)"
    ),
    "resume": re.compile(r"(?:继续|回来了|好了|开始吧|准备好|接着|可以了)"),
    "goodbye": re.compile(r"(?:再见|拜拜|回见|先这样|就这样)"),
    "withdraw": re.compile(r"(?:退出|放弃|取消|不面了|不想面|结束面试|不参加|撤回)"),
    "human": re.compile(r"(?:人工|真人|HR|hr|客服|招聘|联系人|工作人员)"),
    "retry": re.compile(r"(?:重新|再答|再来|重答|重做)"),
    "delete_my_data": re.compile(r"(?:删除|删掉|清除|抹掉)"),
}

_LOST_QUESTION = (
    r"\b(?:misread|mis-read|misunderstood|misunderstand) (?:the|your|this|that) question\b|"
    r"\b(?:read|understood|got) (?:the|your|this|that) question (?:wrong|wrongly|incorrectly)\b|"
    r"\b(?:didn'?t|did not|couldn'?t|could not|can'?t|cannot|never) (?:read|see|find|receive|load)"
    r" (?:the|your|that|this) question(?: properly| right| correctly| fully)?\b|"
    r"\b(?:missed|lost|can'?t see|cannot see|can'?t find) (?:the|your|that) question\b|"
    r"\bthe (?:question|message|text) (?:got |was |is |has )?(?:cut off|cut|disappeared"
    r"|gone|missing|vanished|not showing|"
    r"didn'?t (?:load|show|come through))\b|"
    r"\bwhat did you (?:just )?ask(?: me)?\b|\bwhat(?:'s|s| is) the question\b(?! (?:about|asking|looking))|"
    r"(?:看错|理解错|读错|看漏|看岔|会错意)了?(?:题|题目|问题)|(?<!问)(?:题目|题)(?:我|刚才|刚刚|好像|怎么)?(?:没看到|没看清|没看见|看不到|看不见|"
    r"找不到|显示不全|不全|不见了|没了|被刷|刷没|刷掉|没显示|没发出来|没收到|没加载)|"
    r"问题(?:显示不全|没显示|没发出来|没加载|被刷掉?|刷没了)|(?:没看到|没看清|没看见|看不到|看不见|没收到)(?:题目|题)"
)
"""The candidate lost sight of the question (misread it, missed it, it was cut off): show it again.
Tied to the words "the question" / 题目, so "I misread the customer's intent" is an answer."""

_RETURN_LATER = (
    r"\b(?:i'?ll|i will|will|gonna|should|can) be back\b|"
    r"(?:^|[,.;!-]\s*)(?:and |but )?back (?:soon|shortly|later|after\b|tonight|tomorrow|"
    r"this (?:afternoon|evening)|"
    r"in (?:a |an |\d+ ?|a few |a couple (?:of )?|half an? |five |ten |fifteen |twenty |thirty )"
    r"(?:bit|while|sec|min|hour|hr))|"
    r"\b(?:continue|finish|resume|carry on|pick (?:this|it) up|do (?:this|it|the rest)|"
    r"get back to (?:this|it)|come back)(?: (?:this|it|the rest))?(?: later)? "
    r"(?:in (?:an?|one|two|three|half an?|a few|a couple of|\d+) "
    r"(?:hours?|hrs?|min(?:ute)?s?)|after (?:work|lunch|dinner|school|class|my (?:meeting|shift|call)|"
    r"the (?:meeting|call))|this (?:afternoon|evening|weekend)|tonight|tomorrow|later today|"
    r"when i(?:'m| am| get| got)? (?:home|back|off work|free|done|out of (?:the|my) \w+))\b|"
    r"^give me (?:an?|one|two|half an?|a few|a couple of|\d+|ten|fifteen|twenty|thirty) "
    r"(?:hours?|hrs?|mins|minutes)\b|"
    r"(?:下午|晚上|明天|改天|晚点|晚些|稍后|回头|待会儿?|等会儿?|一会儿?)(?:[再在]|就)?(?:回来|接着聊|继续聊|再聊|聊|继续)|"
    r"(?:下午|回头|稍后|晚些)(?:回来)?(?:再|接着|继续)?(?:答|做|面|回答|继续)|"
    r"等我[^，。,.]{1,10}(?:再|接着)(?:继续|答|回答|聊|面)"
)
"""The candidate leaves and says when they will be back ("back in 20", "can I continue after work",
"老板找我 回头再聊"): a pause."""

_AWAY_FOR = (
    r"(?:^|[,.;!]\s*)(?:i |i'?ll |sorry,? )?(?:need|give me|gimme|wait|hold on|hang on|pause|brb|break|away)"
    r"(?: for)?(?: like| about| around| maybe)? (?:(?:[5-9]|[1-9]\d|five|ten|fifteen|twenty|thirty|forty) ?"
    r"(?:mins?|minutes|m)|(?:an?|one|two|half an?|\d) ?(?:hours?|hrs?|h))\b"
    r"(?! to (?:think|figure|gather|collect|organi[sz]e|write|type|prepare))|"
    r"(?:^|[，,。.!！\s])(?:你)?(?:稍等|等|给我|我需要|需要|离开|走开|暂停|休息)(?:我|一下)?"
    r"(?:[5-9]|[1-9]\d|十五|二十|三十|四十|五|六|七|八|九|十|半|一|两)(?:个)?(?:分钟|小时|钟头)"
    r"(?<!一分钟)(?<!两分钟)"
)
"""Going away for a while, named ("need 10 min", "hold on an hour", "稍等我十分钟"): a pause; a
minute or two, or time to think, is taking a moment."""

_SPEECH = re.compile(
    r"(?:说|讲|答应|表示|回复|承诺)(?:了|过)?[\s,，:：]*(?:他们|他|她|我们)?(?:会|要)?(?:先)?$|"
    r"\b(?:said|says|told (?:me|us|them|him|her)|promised|replied|answered)(?: that)?"
    r"(?: (?:they|he|she|we|it)(?:'d| would| will|'ll)?)?[\s,:]*$",
    re.IGNORECASE,
)
"""Ends with a verb of saying: what follows is reported speech."""
_BACK_TO_ANSWER = re.compile(r"答|\banswer", re.IGNORECASE)
"""After a return ("等会再回来答", "back later to answer it"): the candidate comes back to this question."""
_STRONG_CUES: dict[str, re.Pattern[str]] = {
    "repeat": re.compile(
        r"^(?:sorry|sry|oh)?[\s,]*(?:what|huh|pardon|come again)[\s?？!.]*$|"
        r"\bwhat (?:was|is|s) the question\b|\b(?:repeat|resend"
        r"|re-?send|show me|send) (?:the question|that|it)\b|"
        r"\bthe question again\b|题目(?:是什么|是啥|再发|再说)|[再在]说一遍|你说(?:啥|什么)|"
        r"\b(?:can|could) (?:u|you) (?:pls |please )?re-?send\b(?: (?:it|that|pls|please))?[\s?.!]*$|"
        r"(?:题目|问题)(?:能|可以|麻烦)?(?:[再在](?:给|发)|重发)|(?:麻烦|能|可以|请)重发|重发(?:一下|下|吧|一[遍次])"
        r"|能[再在]发(?:一[遍次下])?吗|麻烦[再在]?发|"
        r"问题再(?:说|发)|问的(?:是)?(?:啥|什么)|重复一下|" + _LOST_QUESTION,
        re.IGNORECASE,
    ),
    "pause": re.compile(
        r"^(?:pls |please )?pause(?:[\s.!]*$| it[\s.!]*$| (?:pls|please|plz|now|here)\b)|"
        r"^(?:先)?暂停(?:一下|下)?(?:吧|啊)?[\s。!！]*$|"
        r"\b(?:(?:can|could|may|shall) (?:i|we) (?:please )?(?:pause|take (?:a "
        r"|an )?(?:short |quick |little |small |few min(?:ute)?s? )?(?:break|breather)|"
        r"come back|(?:continue|finish|do|complete) (?:this |it |the rest )?"
        r"(?:later|tonight|tomorrow|another time|next week|(?:on|this) (?:the )?(?:weekend"
        r"|monday|tuesday|wednesday|"
        r"thursday|friday|saturday|sunday|evening|afternoon)|after (?:work|lunch|dinner"
        r"|\d+\w*))|stop (?:here|now))|"
        r"(?:let'?s|please|i'?d like to|i want to|i need to|i have to|i gotta|gotta) "
        r"(?:pause|take (?:a |an )?(?:short |quick |little )?break"
        r"|stop here|step away|go now|leave now)|"
        r"(?:^|(?:sorry|ok|okay|so|but|i|i'?m|we)[\s,]+)(?:really )?(?:(?:need|have|got) to|gotta) "
        r"(?:stop|go|run|leave|head out|hop off)(?![ \t]+(?:the|a|an|all|our|their|it|them|this|that|with|"
        r"through|over|back|ahead|on|into)\b)|"
        r"pause (?:here|"
        r"the interview|please|for)|"
        r"brb|be right back|back in (?:\d+|a (?:bit|few|sec|min|minute|moment)|an hour|five|ten|fifteen|"
        r"half an hour)(?: ?(?:min|mins|minutes|m|sec|secs))?$"
        r"|need (?:a |to take a )(?:quick |short |little )?break|"
        r"(?:can|could|may) (?:i|we) (?:have|get|take) (?:a (?:few"
        r"|couple(?: of)?)|five|ten|\d+) (?:min|mins|minutes)|"
        r"(?:let me|i'?ll|i will|i need to|i have to|gotta|gonna|going to) stop (?:here|now"
        r"|for (?:now|today|a bit))|"
        r"(?:^|[,.;]\s*)stop (?:here|for now|for today)\b|"
        r"(?:need to|have to|gotta|got to|must) (?:take|answer|jump on) (?:a|this|the|my"
        r"|an urgent) (?:\w+ )?(?:call|phone call)|"
        r"(?:will|i'?ll) (?:finish|continue|come back|do the rest|pick (?:this|it) up)(?: \w+)? "
        r"(?:later|tonight|tomorrow|in an hour))\b"
        r"|^(?:先)?pause(?:一下|下)?(?:吧|啊)?[\s。!！]*$|先(?:停|到)(?:在|到)?(?:这|这里|这儿)"
        r"|(?:先|可以|能|请|想|要|我得|需要)[^，。,]{0,4}(?:暂停|休息|停一下)(?![了过])|暂停一下|"
        r"(?:待会儿?|等会儿?|等下|晚点)(?:回来|[再在]|接着|继续)|回来(?:[再在]|继续|接着)|"
        r"(?:小时|分钟|会儿?)(?:后|以后|之后)?(?:回来|再来|继续)|我(?:先)?去(?:开个?会|接个?电话|吃个?饭)|"
        r"(?:明天|改天|晚上|周末|下周|周[一二三四五六日天])(?:回来)?(?:[再在]|接着|继续){0,2}来?(?:答|做|面|聊|回答|继续|写)|"
        r"(?:^|[，,。.!！\s])[^，,。.!！\s了过]{0,8}再(?:继续|接着答|接着写|答|回答|来答|面|聊)(?:吧|哈|啊|呀)?[\s。！!~～]*$|"
        r"(?:回家|到家|回到家|下班|下课|放学|回去|回公司|到公司|[\u4e00-\u9fff]{1,2}完[\u4e00-\u9fff]?了?)(?:后|以后|之后)?"
        r"(?:[再在]|接着){1,2}来?(?:继续|答|回答|聊|面|做)(?=[吧哈啊呀了。！!，,\s~～]|$)|"
        + _RETURN_LATER
        + "|"
        + _AWAY_FOR,
        re.IGNORECASE,
    ),
    "skip": re.compile(
        r"\b(?:(?:can|could|may|shall) (?:i|we) (?:please )?(?:skip|move on(?! from)"
        r"|move (?:on )?to the next|"
        r"pass|come back to (?:this|it|that)(?: one| question)? later)|(?:let'?s|please"
        r"|i'?d like to|i want to|"
        r"i'?d rather|i'?ll) (?:skip|pass|move on|come back to (?:this|it|that)(?: one| question)? later)|"
        r"skip (?:this|that|it|the question)|(?:jump|skip) ahead|(?:go|move"
        r"|jump) on to the (?:next|following)"
        r"(?! (?!one\b|question\b|please\b|pls\b|plz\b|for\b|then\b)[a-z])|"
        r"^s+k+i+p+[\s!.]*$|let'?s leave (?:this"
        r"|that|it)|next question|next,? (?:please|pls|plz))\b|"
        r"\bskip\b\s*(?:吧|吗|一下|这|掉|$)|\bskip,? (?:pls|please|plz)\b|"
        r"(?:^|[,.;!]\s*|\b(?:please|pls|just) )(?:go|move|jump|skip) (?:on )?to the next"
        r"(?! (?!one\b|question\b|please\b|pls\b|plz\b|for\b|then\b)[a-z])|" + _ZH_SKIP.pattern,
        re.IGNORECASE,
    ),
}
_ZH_MARKED = re.compile(r"(?:[吗嘛么呢吧][？?。.!！]*$|[？?]|请问|想了解|想知道|想问|问一下|问下|好奇|咨询)")
_ZH_EMBEDDED = re.compile(
    r"(?:争|讨论|决定|考虑|不知道|不确定|看看|研究|纠结|商量|就怎么|就什么|都行|无论|不管|难说|说不好|说不清|不好说|难讲|"
    r"不记得|记不清|忘了|"
    r"[看查判断确认分析搞弄问]清?楚?(?:是不是|是否|有没有|什么|哪)|问清楚|"
    r"(?:看|查|确认|观察|检查)[^，。,.？?]{1,6}(?:是不是|是否|有没有))"
)

_ZH_ASPECT = re.compile(r"[\u4e00-\u9fff][了过](?=[\u4e00-\u9fffA-Za-z0-9])")
_ZH_NOT_ASPECT = re.compile(r"好了|算了|对了|行了|得了|罢了|为了|除了|不过|过来|过去|太.了|到了吗|了吗|过吗")
_EN_PAST = re.compile(
    r"\b(?:[a-z]{2,}(?<!e)ed|[a-z]+ied|was|were|had|did|made|took|came|went|got|kept|told|said|found|"
    r"built|wrote|ran|led|held|gave|left|brought|thought|saw|knew|met|sent|spent|lost|won|sold|bought|"
    r"paid|drove|grew|chose|fell|felt|heard|understood|began|broke|caught|taught|fought|stood)\b",
    re.IGNORECASE,
)
_EN_STATE = re.compile(
    r"\b(?:am|'m|is|'s|are|'re|be|been|being|get|getting|feel|feeling|so|very|really|too|if)\s+(?:\w+\s+)?$",
    re.IGNORECASE,
)
"""Before an -ed word, a state ("I'm tired", "interested"), not something that happened."""
_AWAY = re.compile(
    r"\b(?:was|got|been|were) (?:away|afk|busy|distracted|disconnected|offline|interrupted|called away)\b|"
    r"\blost (?:my |the )?(?:connection|internet|signal|wifi)\b|掉线|断网|网断|没信号|刚才不在|走开了",
    re.IGNORECASE,
)
"""The candidate tells why they were gone: about the conversation, not an answer."""
_EN_NARRATION = re.compile(
    r"\b(?:we|i|they|he|she|my team|our team|the team)\s+(?:just "
    r"|then |also |finally |first |usually |always |"
    r"eventually |really |simply )?(?!(?:need|needs|want"
    r"|wants|wanna|gotta|got to|have|has|will|would|can|could|"
    r"cant|cannot|must|should|shall|may|might|am|do|dont|don't|think|guess|hope|feel|mean|be|gonna|wonder|"
    r"wanted|was wondering|forgot|missed|didn'?t)\b)[a-z]{2,}",
    re.IGNORECASE,
)
"""A subject and its verb, not a modal or a wish ("we put the project on pause", "I stay calm"):
the candidate tells what they do or did."""
_MOMENT = re.compile(
    r"\b(?:sec|secs|second|moment|minute|min|mins|wait|hold on|hang on)\b"
    r"|稍等|等一下|等下|等等|等会|一会|喝口水|等我",
    re.IGNORECASE,
)
_HEARSAY = re.compile(
    r"^(?:so |and |hey |hi |btw )?(?:i (?:heard|was told|read (?:that|on|in))|someone (?:told|said)|"
    r"(?:my )?(?:friend|recruiter|colleague|the ad|the job ad"
    r"|the posting|the website) (?:told|said|says|mentioned|"
    r"mentions))\b|^(?:我)?(?:听说|据说|听人说|朋友说|有人说|网上说|看到(?:招聘|JD|jd|网上|官网|你们))",
    re.IGNORECASE,
)
_META = re.compile(
    r"\balready (?:answered|covered|told you|discussed|talked about|sent)\b|"
    r"\b(?:answered|covered|discussed|talked about|told you) (?:this"
    r"|that|it)(?: one)?\b.{0,40}\b(?:already|before)\b|"
    r"\b(?:sent|typed|pasted|posted) (?:the |a )?wrong\b|\bwrong (?:message|chat|window|thing)\b|"
    r"\b(?:walked|stepped|sat|jumped|lay) (?:on|across|over) (?:my|the) (?:keyboard|phone|laptop|screen)\b|"
    r"\b(?:sent|hit|pressed) (?:that|this|it|send|enter) (?:by (?:accident|mistake)|too (?:early|soon))\b|"
    r"\baccidentally (?:sent|hit|pressed)\b|"
    r"\bignore (?:that|this|my (?:last|previous)|the (?:last"
    r"|previous))\b|\bmy (?:last|previous) (?:answer|message)\b|"
    r"^(?:sorry[\s,]*)?(?:i )?(?:got |was |just )?(?:disconnected|cut off)\b|"
    r"已经(?:回答|答)过|(?:回答|答)过了|(?:^|刚才|刚刚|上一条|消息)发错了?|发错了[\s。!！]*$|打错了?[\s。!！]*$|"
    r"忽略(?:刚才|上一条|这条)|(?:上一条|上条|刚才那条|前面那条|刚发的那条)(?:消息|信息)?(?:就)?是|^(?:我)?(?:刚才|刚刚)?(?:掉线|断线|断网)|上一条(?:消息|回答)",
    re.IGNORECASE,
)
"""Talk about the conversation itself ("I already answered this", "发错了"): not an answer."""
_CHECK_IN = re.compile(
    r"^(?:is that|does that|would that|will that|was that)\s+(?:ok"
    r"|okay|enough|fine|what you|answer|make sense|"
    r"help|work for you|the kind)"
    r"|^(?:do you |d'?you )?(?:want|need) (?:me to (?:go on|elaborate|explain|expand"
    r"|go into|say more|give more)"
    r"|more (?:detail|details|on that|context))|^(?:should|shall) i (?:elaborate|go on"
    r"|expand|explain more|go into)",
    re.IGNORECASE,
)
"""An answer checking in ("..., is that enough"): not a question to us."""
_EN_RELATIVE = re.compile(
    r"^(?:which|who)\s+(?:\w+ly\s+)?(?:is|isn'?t|was|wasn'?t|were|weren'?t|has|hasn'?t|had|hadn'?t|"
    r"made|makes|meant|means|helped|helps|led|leads|caused|causes|took|takes|turned|worked|works|saved|"
    r"saves|cost|costs|gave|gives|got|felt|feels|seemed|seems|sounds?|ended|became|becomes|"
    r"[a-z]+ed)\b"
    r"|^which (?:my|our|the|their|his|her|your|this|that|i|we|they|he|she|it|everyone|everybody|nobody|"
    r"people)\b|^which \w+ly\b|^which \w+s (?:it|them|me|us|him|her|everything|things)\b",
    re.IGNORECASE,
)
"""A relative clause after a statement (", which isn't great", ", who was new to it"): it tells
more of the statement; it asks nothing."""
_ZH_CHECK_IN = re.compile(
    r"^(?:我|那)?(?:这样|这么|如上|以上)(?:子)?(?:回答|说|答|讲|写|描述)?(?:的话)?(?:可以|行|ok|OK|对|够|合适|清楚)"
    r"(?:吗|么|不|不行|不对|吧|嘛|没|了吗)?[\s？?。.!！]*$|"
    r"^是(?:这样|这么)(?:回答|说|答|讲|写)(?:吗|么|对吗|吧)[\s？?。.!！]*$|"
    r"^(?:还)?(?:要|需要|用)(?:我)?(?:再)?(?:详细|具体|展开)?(?:讲|说|展开|介绍|补充)"
    r"[^，。？?]{0,12}(?:吗|么|不)[\s？?。.!！]*$"
)
"""A Chinese answer checking in ("…这样回答行不行", "…这样说可以吗")."""
_EN_INFORMATION = re.compile(
    r"\b(?:what|when|where|how|which|who|whom|why|whats|hows|wat|wats|wut|hw)\b", re.IGNORECASE
)
_ZH_INFORMATION = re.compile(
    r"什么|啥|谁|多久|多长|多少|几[个天年月周轮次点号位份道题场步]|哪|怎么|怎样|如何|为什么|为啥"
)

_THINKING = re.compile(
    r"^(?:(?:h+m+|u+m+|u+h+|er+m*|ok(?:ay)?|so|well)[\s,.…]*)*"
    r"(?:let me think|thinking|one sec(?:ond)?|just a sec(?:ond)?|"
    r"give me a (?:sec(?:ond)?|moment|minute)|let me see"
    r"|good question|hm+|um+)\b"
    r"|^(?:ok(?:ay)?[\s,]+)?(?:here goes|let me (?:answer|try))[\s.!…]*$"
    r"|^(?:ok(?:ay)?[\s,]+)?(?:hold on|hang on|wait)(?:[\s,]*(?:a (?:sec|second|moment|minute|min)|"
    r"let me think|pls|please))?[\s.!…]*$"
    r"|^(?:嗯+|呃+|额+)?[\s,，.。…]*(?:让我想|我想一下|想一想|想想|我想想|容我想|稍等|等一下|等我想|想好了|我来(?:说|讲|回答|答)|等我(?:组织|整理|理一下|捋))",
    re.IGNORECASE,
)

_THANKS = re.compile(
    r"^(?:(?:ok(?:ay)?|great|cool|perfect|got it|i see|ah|oh)[\s,.!]+)*"
    r"(?:(?:thanks?|thank you|thx|ty|cheers|appreciate it)\b(?! to\b)"
    r"|(?:好的|嗯+|明白了?)?[，,\s]*(?:谢谢|感谢|多谢|辛苦了?)(?!(?:领导|老板|同事|团队|大家)的?(?:支持|帮助)))",
    re.IGNORECASE,
)
"""Opens with thanks ("thank you for the clarification", "谢谢解释")."""
_PRESENCE = re.compile(
    r"^(?:hello|hi|hey|yo|excuse me)?[\s,.!]*(?:\?+|(?:are )?you (?:still )?there|anyone (?:there|here|home)|"
    r"is (?:anyone|anybody|this thing) (?:there|here|on|working)|still there)[\s?!.]*$"
    r"|^(?:hello|hi|hey)\s*\?+$"
    r"|^(?:你好|喂|哈喽|hello)?[，,\s]*(?:在吗|在不在|还在吗|人呢|有人吗|有人在吗)[？?。!！\s]*$",
    re.IGNORECASE,
)
"""Checks that someone is there ("hello?", "are you still there", "在吗"): no question, no answer."""
_REMARK = re.compile(
    r"^(?:(?:wow|man|omg|ugh|oof|haha+|lol|hmm+|ok(?:ay)?|well|honestly|tbh|phew|god)[\s,.!]*)*"
    r"(?:(?:this|that|it|these|this one|the questions?|this question|these questions)(?:'s| is| are| was)? "
    r"(?:so |really |pretty |quite |kinda |very |a bit |super |a little )?"
    r"(?:hard|tough|difficult|tricky|harder|"
    r"tougher|intense|stressful|a tough one|a hard one|a good one)"
    r"|i'?m (?:so |a bit |kinda |really |pretty |very |a little |quite )?(?:nervous|stressed|anxious|tired))"
    r"(?:[\s,]+(?:than (?:i )?(?:expected|thought)|lol|haha+|tbh|honestly|ngl|ngl|not gonna lie))*[\s,.!…~]*$"
    r"|^(?:哇|唉|啊|哈哈+|天哪|我去)?[，,\s]*(?:这题|这个问题|这道题|题目|问题)?(?:好|太|有点|真|挺|蛮|有些)"
    r"(?:难|烧脑|紧张|累)(?:了|啊|呀|哦|哈+|吧)*[\s，,!！。…~～]*(?:这题|这道题|这个问题)?[\s，,!！。…~～]*$"
    r"|^(?:我)?(?:有点|好|很|挺|蛮|有些)(?:紧张|慌|累)(?:了|啊|呀|哦|哈+)*[\s，,!！。…~～]*$"
    r"|^(?:这个|你这个)?(?:机器人|bot|AI|ai)(?:回复|回得|回答|反应|速度)?(?:好|真|挺|太|蛮|很)(?:快|慢|聪明|厉害|智能)"
    r"(?:了|啊|呀|哦|哈+)*[\s，,!！。…~～]*$"
    r"|^(?:(?:sorry|sry|apologies|oops)[\s,.!]*)?(?:(?:i'?m )?(?:a )?(?:bit |kinda |really |very )?slow "
    r"(?:typer|at typing)(?: here)?|"
    r"i type (?:really |very |a bit )?slow(?:ly)?|(?:my )?typing (?:is )?(?:so |really |a bit )?(?:slow|bad)|"
    r"(?:for|about) (?:the|my) (?:typos|slow typing|spelling|english|grammar|delay)|bear with me|"
    r"my english (?:is not|isn'?t) (?:great|good|perfect|very good))"
    r"(?:[\s,.!…]+(?:(?:i'?m )?(?:on|typing on|using) (?:my|a) (?:phone|mobile)|pls|please|lol"
    r"|haha))*[\s,.!…]*$"
    r"|^(?:不好意思|抱歉|sorry|见谅)?[，,\s]*(?:我)?(?:(?:手机)?打字|输入|回复)(?:有点|比较|很|太|好|稍微)?慢"
    r"(?:了|啊|呀|哦|哈+)*[\s，,!！。…~～]*(?:见谅|不好意思|抱歉)?[\s，,!！。…~～]*$"
    r"|^(?:不好意思|抱歉|sorry)?[，,\s]*(?:我的?)?(?:中文|英文|英语|普通话)(?:不太好|不好|一般|不太行|比较差)"
    r"(?:了|啊|呀|哦|哈+)*[\s，,!！。…~～]*(?:见谅|不好意思|抱歉)?[\s，,!！。…~～]*$",
    re.IGNORECASE,
)
"""A short remark on the interview, how the candidate feels or how they type ("this is harder
than I expected", "好难啊", "有点紧张", "sorry, slow typer", "打字慢见谅"): not an answer, and
nothing to look up."""

_ABOUT_PEOPLE = re.compile(
    r"\b(?:does|do|will|would|is|are|can|could|did)\s+(?:a |an |the |any |some )?(?:real |actual |live )?"
    r"(?:hr|humans?|persons?|people|recruiters?|someone|anyone|anybody|somebody|interviewers?"
    r"|hiring managers?|"
    r"staff|(?:the )?team)\s+(?:actually |really |ever |also |even |still )?"
    r"(?:see|read|review|check|look at|watch|grade|score|mark|decide|evaluate|go through|listen to|"
    r"reading|watching|reviewing|checking|monitoring|looking at)\b"
    r"|(?:有|是)?(?:真人|人工|HR|hr|面试官|招聘(?:方|官)?|工作人员|有人)(?:会|在|能)?(?:看|审|评|打分|读|过目|审核|盯着)",
    re.IGNORECASE,
)
"""People doing something with the interview ("does HR read this chat", "是真人在看吗")."""
_NO_EXAMPLE = re.compile(
    r"\b(?:can'?t|cant|cannot|can not|couldn'?t) (?:really |honestly )?(?:think of|come up with"
    r"|recall|remember) "
    r"(?:one|any|an? (?:good |specific |real |concrete )?(?:example|time|case|situation|instance)"
    r"|anything)\b|"
    r"\b(?:don'?t|dont|do not) (?:really |honestly )?have (?:one|any|an? (?:good |specific |real |concrete )?"
    r"(?:example|story|case|instance))\b|"
    r"\b(?:no|nothing) (?:(?:really|honestly|immediately|obvious|good|real|specific|example|story) )*"
    r"(?:comes|springs) to mind\b|"
    r"\bno (?:good |real |specific |concrete )?examples?\b|"
    r"想不(?:出|到|起)(?:来)?(?:合适的|具体的|好的)?(?:例子|案例|什么|事例|经历)?|"
    r"没(?:有)?(?:什么|啥)?(?:合适的|具体的|好的|现成的)?(?:例子|案例)|"
    r"没(?:怎么)?(?:遇到|碰到|经历|遇)过(?:这种|这样|类似|这类)|"
    r"(?:这种|这样的|这类|类似的?)(?:情况|事情|经历|事|问题)?(?:我)?(?:还|从来|从|真|确实)?没(?:有)?(?:怎么)?"
    r"(?:遇到|碰到|经历|遇|做|处理)过",
    re.IGNORECASE,
)
_DEFERS = re.compile(
    r"\b(?:later|tonight|tomorrow|another (?:time|day)|next week|this (?:afternoon|evening|weekend)|"
    r"after (?:work|lunch|dinner|school|class|my (?:meeting|shift|call))|when i (?:get|am"
    r"|'m) (?:home|back|free))\b"
    r"|晚上|明天|晚点|晚些|改天|回头|稍后|下午|周末|下周|待会|等会|回家|到家|下班|有空",
    re.IGNORECASE,
)

_RESUME_REQUEST = re.compile(
    r"\b(?:(?:can|could|shall|may) (?:we|i) (?:please |now |just )?|(?:let'?s|ready to"
    r"|i'?m ready to|i want to|"
    r"i'?d like to) )(?:continue|carry on|resume|go on|keep going|get going|proceed|pick (?:up"
    r"|it up|this up)|"
    r"get back to it|start again)"
    r"(?: (?:now|please|pls|with (?:the|this) (?:interview|questions?)|the interview|"
    r"(?:from )?where (?:we|i) (?:left off|stopped|were)))*[\s?!.]*$"
    r"|^(?:(?:hi|hello|hey|ok(?:ay)?|sorry|好了|我回来了|不好意思)[\s,，.。!！]*)*(?:我们|咱们)?(?:现在)?"
    r"(?:可以|能)(?:继续|接着)(?:了|面试|答题|答|做)?(?:了)?(?:吗|么|嘛|不|没)[\s？?。!！]*$",
    re.IGNORECASE,
)
"""Asks to go on with nothing else asked ("can we carry on where we left off?", "可以继续了吗")."""

_SENTENCE = re.compile(r"[^.!?。！？\n]+[.!?。！？\n]*")
_ZH_CLAUSE = re.compile(r"[^.!?。！？\n，,；;\s]+[.!?。！？\n，,；;\s]*")
_TOKEN = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    _TOKEN.findall(
        "a an the and or but of to in on at for with by from as is are was were be been it this that these "
        "those you your i me my we our they their he she his her what how when where who which why do does "
        "did can could would should will tell about time there here any some mean means meant by"
    )
)

SUBSTANTIAL_WORDS = 12
"""An answer this long (words; a Chinese character counts half) before a trailing question is an
answer that ends by checking in ("... is that what you were looking for?")."""
LEADING_WORDS = 8
"""A statement this long after an opening question ("毕业设计算吗？我做了 ...") is the answer."""


@dataclass(frozen=True)
class MessageForm:
    """What the wording of a message says, whatever it is about."""

    words: int
    question: bool
    """Worded as a question: a question mark, an interrogative word or particle, or curiosity."""
    curiosity: bool
    """A statement of curiosity ("curious about the bonus", "我想了解一下团队规模")."""
    trailing_question: bool
    """A substantial statement that ends with a question (an answer that checks in)."""
    marked: bool
    """The question is marked as one: a question mark or a closing particle, an opening
    interrogative (English), or curiosity; not just a question word inside a statement."""
    leading_question: bool
    """A question followed by a substantial statement ("does a side project count? I built ...")."""
    clarification: bool
    """Worded as a question about the question itself ("what do you mean by", "是指什么")."""
    yes_no_reply: bool
    """Short and starting with yes, no or a word of degree ("yep", "nope, never", "没有过")."""
    acknowledgement: bool
    """Only a yes or an okay ("yes", "ok", "好的", "嗯嗯"): it says nothing more."""
    about_answer: bool
    """Asks how to answer the question: what to talk about, how much, which of two ("do you want X or
    Y", "should I talk about A or B", "要讲…还是…", "需要说具体数据吗", "可以说…吗")."""
    reports: bool
    """Tells what happened, in the past ("we waited it out", "暂停了定时任务"): a command is worded
    in the present ("wait", "暂停一下")."""
    information: bool
    """Asks for information with a question word (what, when, how long, 什么时候, 多久 ...)."""
    moment: bool
    """Names a short wait ("one sec", "hold on", "稍等", "等一下"): taking a moment, not a pause."""
    hearsay: bool
    """Opens with what the candidate heard or read ("I heard you ...", "听说你们..."): it asks us to
    confirm it when it is about us."""
    meta: bool
    """About the conversation itself ("I already answered this", "发错了"), not the question."""
    skip_request: bool
    thinking: bool
    """Short and thinking aloud ("hmm let me think", "让我想一想"): the candidate takes a moment."""
    decline: bool
    """Declines to answer ("I'd rather not say", "不方便透露")."""
    language: str
    puzzled: bool = False
    """Says the question is not understood ("not sure I understand the question", "没太懂这个问题")."""
    thanks: bool = False
    """Short and opening with thanks ("thank you for the clarification", "谢谢解释")."""
    presence: bool = False
    """Checks someone is there ("hello?", "在吗")."""
    remark: bool = False
    """A short remark on the interview or the candidate's nerves ("this is a tough one", "好难啊")."""
    about_people: bool = False
    """Asks what people at the company see or do ("does HR read this", "有真人看吗"), not to talk to one."""
    no_example: bool = False
    """Says there is no example to tell ("can't think of one", "想不出例子", "没遇到过这种情况"): an
    answer, scored as what it is, unless it also asks to move on."""
    defers: bool = False
    """Names a later time ("tonight", "after work", "晚上", "明天"): the candidate would do it later."""
    resume_request: bool = False
    """Asks to go on, worded as a question or not ("can we carry on where we left off", "可以继续了吗"),
    with nothing else asked (not "can I continue on my laptop")."""

    def plain_request(self, text: str) -> str | None:
        """The request the wording plainly makes: ``skip``, ``pause`` or ``repeat`` (else None).
        A skip beside a leave-and-come-back ("先不答了 我去吃饭 晚点回来", "not answering now, back
        in an hour") is a pause: the candidate goes away. Coming back to *this question* later ("can
        we come back to this one later") is one request, a skip."""
        skips = [m.span() for m in _STRONG_CUES["skip"].finditer(text) if not _reported(text, m.start())]
        pauses = [m.span() for m in _STRONG_CUES["pause"].finditer(text) if not _reported(text, m.start())]
        away = [
            (start, end)
            for start, end in pauses
            if not any(start < e and s < end for s, e in skips)
            and not _BACK_TO_ANSWER.search(text[start : end + 4])  # "跳过 等会再回来答": back to this one
        ]
        if skips and not away:
            return "skip"
        if pauses:
            return "pause"
        if _STRONG_CUES["repeat"].search(text):
            return "repeat"
        return None

    def cue_for(self, intent: str, text: str) -> bool:
        """Whether the wording carries a word of the command ``intent``; False for intents
        without such words (``progress``, ``faq_question`` ...)."""
        cues = _ZH_COMMAND_CUES if self.language == "zh" else _EN_COMMAND_CUES
        return intent in cues and self.names_command(intent, text)

    def names_command(self, intent: str, text: str) -> bool:
        """Whether the wording carries a cue for the command ``intent`` (pause, skip ...)."""
        cues = (_ZH_COMMAND_CUES if self.language == "zh" else _EN_COMMAND_CUES).get(intent)
        if cues is None:
            return True
        return bool(cues.search(text) or (self.language == "zh" and _EN_COMMAND_CUES[intent].search(text)))

    @property
    def short(self) -> bool:
        return self.words <= 8

    @property
    def content_reply(self) -> bool:
        """A short reply that says something about the candidate's experience: no, none, once, a
        bit, 没有, 做过一点, 还好, "yeah once, a db failover"; not a bare yes or okay."""
        return self.yes_no_reply and not (self.acknowledgement or self.question or self.thinking)


def _reported(text: str, start: int) -> bool:
    """Whether the words at ``start`` are someone's reported speech ("对方说晚点回来再看", "he said
    they'd come back later"): what happened, not a request."""
    return bool(_SPEECH.search(text[max(0, start - 24) : start]))


def message_form(text: str, language: str) -> MessageForm:
    """The form facts of ``text`` (``language``: the message's language, ``en`` or ``zh``)."""
    stripped = text.strip()
    zh = language == "zh" or bool(CJK.search(stripped))
    words = count_words(stripped)
    clause = _ZH_CLAUSE if zh else _SENTENCE
    parts = [p for p in clause.findall(stripped) if p.strip()] or [stripped]
    question = _is_question(stripped, zh)
    if not zh and not question and words < SUBSTANTIAL_WORDS:
        last = re.split(r"[,;:]|\s-\s", stripped)[-1].strip()
        question = (
            last != stripped
            and bool(_EN_QUESTION_START.search(last))
            and not _CHECK_IN.search(last)
            and not (_EN_RELATIVE.search(last) and count_words(stripped[: -len(last)]) >= 3)
        )
    before = "".join(parts[:-1])
    trailing = bool(
        before
        and _is_question(parts[-1], zh)
        and (
            count_words(before) >= SUBSTANTIAL_WORDS
            # a shorter account of what the candidate did, then "does this count?"
            or (count_words(before) >= LEADING_WORDS and _reports(before, zh))
        )
        and not _is_question(before, zh)
    ) or _checks_in(stripped, zh)
    after = "".join(parts[1:])
    leading = bool(
        after
        and _is_question(parts[0], zh)
        and count_words(after) >= LEADING_WORDS
        and not _is_question(after, zh)
    )
    curiosity = bool(_EN_CURIOUS.search(stripped) or (zh and _ZH_CURIOUS.search(stripped)))
    about_answer = _about_answer(stripped, zh)
    puzzled = bool(_PUZZLED.search(stripped))
    clarification = about_answer or puzzled or _clarifies(stripped, zh, words)
    yes_no = words <= 8 and bool(
        _EN_YES_NO_REPLY.search(stripped) or (zh and _ZH_YES_NO_REPLY.search(stripped))
    )
    acknowledgement = bool(_EN_ACK.match(stripped) or (zh and _ZH_ACK.match(stripped)))
    return MessageForm(
        words=words,
        question=question or curiosity or clarification,
        curiosity=curiosity,
        trailing_question=trailing,
        marked=_marked(stripped, zh) or curiosity,
        leading_question=leading,
        clarification=clarification,
        yes_no_reply=yes_no,
        acknowledgement=acknowledgement,
        about_answer=about_answer,
        reports=_reports(stripped, zh) and not (question or acknowledgement),
        information=question
        and bool(
            _EN_INFORMATION.search(stripped)
            or (zh and _ZH_INFORMATION.search(_ZH_INDEFINITE.sub("", stripped)))
        ),
        skip_request=bool(_EN_SKIP.search(stripped) or (zh and _ZH_SKIP.search(stripped))),
        thinking=words <= 8 and bool(_THINKING.search(stripped)),
        moment=bool(_MOMENT.search(stripped)),
        hearsay=bool(_HEARSAY.search(stripped)),
        meta=bool(_META.search(stripped)),
        decline=bool(_EN_DECLINE.search(stripped) or (zh and _ZH_DECLINE.search(stripped))),
        language="zh" if zh else "en",
        puzzled=puzzled,
        thanks=words <= 8 and bool(_THANKS.search(stripped)),
        presence=bool(_PRESENCE.search(stripped)),
        remark=words <= 8 and bool(_REMARK.search(stripped)),
        resume_request=words <= 12 and bool(_RESUME_REQUEST.search(stripped)),
        about_people=bool(_ABOUT_PEOPLE.search(stripped)),
        defers=bool(_DEFERS.search(stripped)),
        no_example=words <= 20 and bool(_NO_EXAMPLE.search(stripped)),
    )


def _checks_in(text: str, zh: bool) -> bool:
    """A shorter statement (8 words or more) that ends by checking in ("…, is that ok?", "…这样回答行不行"):
    an answer, like a substantial one that ends with a question."""
    clauses = [
        c.strip() for c in re.split(r"[,;:，；：.!?。！？\s]+(?=\S)" if zh else r"[,;:.!?]\s*|\s-\s", text)
    ]
    clauses = [c for c in clauses if c]
    if len(clauses) < 2:
        return False
    last = clauses[-1].rstrip("?？.。!！ ")
    if not (_CHECK_IN.search(last) or (zh and _ZH_CHECK_IN.search(last))):
        return False
    head = text[: text.rfind(clauses[-1])]
    return count_words(head) >= LEADING_WORDS and not _is_question(head, zh)


def names_the_question(text: str) -> bool:
    """Whether ``text`` names the question itself ("this question", "这题")."""
    return bool(_CLARIFY_TOPIC.search(text))


def _clarifies(text: str, zh: bool, words: int) -> bool:
    """Whether ``text`` is worded as a question about the question (see `MessageForm.clarification`)."""
    if _CLARIFY_TOPIC.search(text) and _is_question(text, zh):
        return True
    if _EN_CLARIFY.search(text):
        return True
    if not zh or not _ZH_CLARIFY.search(text):
        return False
    return bool(_ZH_CLARIFY_ASKS.search(text)) or words < LEADING_WORDS or _is_question(text, zh)


def _about_answer(text: str, zh: bool) -> bool:
    """Whether ``text`` asks how to answer (see `MessageForm.about_answer`)."""
    if _EN_ABOUT_ANSWER.search(text) and not _EN_HIRING.search(text):
        return True
    if not zh:
        return False
    frame = _ZH_ABOUT_ANSWER.search(text)
    asks = frame is not None and (
        bool(frame.group("asks")) or bool(_ZH_ALTERNATIVE.search(text, frame.start()))
    )
    return asks and not _ZH_ABOUT_US.search(text)


def _reports(text: str, zh: bool) -> bool:
    """Whether ``text`` tells what happened (a verb in the past tense, 了 or 过 after a verb)."""
    if _AWAY.search(text):
        return False
    if zh and _ZH_ASPECT.search(_ZH_NOT_ASPECT.sub("", text)):
        return True
    if _EN_NARRATION.search(text):
        return True
    if _AWAY.search(text):
        return False
    return any(not _EN_STATE.search(text[: m.start()]) for m in _EN_PAST.finditer(text))


def _is_question(text: str, zh: bool) -> bool:
    stripped = text.strip()
    if stripped.endswith(("?", "？")):
        return True
    if _EN_QUESTION_START.search(stripped):
        return True
    if zh:
        stripped = _ZH_INDEFINITE.sub("", stripped)
    if not zh or not _ZH_QUESTION.search(stripped):
        return False
    # An interrogative inside a statement ("领导说怎么做就怎么做", "争过要不要上微服务") is no
    # question unless a particle or a question mark marks one.
    return bool(_ZH_MARKED.search(stripped)) or not _ZH_EMBEDDED.search(stripped)


def _marked(text: str, zh: bool) -> bool:
    if text.endswith(("?", "？")) or _EN_QUESTION_START.search(text):
        return True
    return zh and bool(_ZH_MARKED.search(text))


def is_yes_no_question(text: str) -> bool:
    """Whether a question's wording asks for a yes or no ("Have you ever ...", "是否...过吗")."""
    stripped = text.strip()
    if CJK.search(stripped):
        return bool(_ZH_YES_NO_QUESTION.search(stripped)) and not re.search(
            r"(?:什么|怎么|如何|为什么|哪|讲一次|讲讲|说说|描述|举例)", stripped
        )
    first = _SENTENCE.findall(stripped)
    return bool(first) and bool(_EN_YES_NO_QUESTION.search(first[0].strip()))


def shared_terms(text: str, other: str) -> int:
    """Content words (English) or character pairs (Chinese) two texts share: how much a message
    is about a given question."""
    return len(_terms(text) & _terms(other))


def _terms(text: str) -> set[str]:
    lowered = text.lower()
    words = {w for w in _TOKEN.findall(lowered) if w not in _STOP and len(w) > 2}
    stems = {w[:5] for w in words}
    han = "".join(CJK.findall(lowered))
    pairs = {han[i : i + 2] for i in range(len(han) - 1)}
    return stems | pairs
